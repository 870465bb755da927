// The pino logger: JSON lines on stdout. One line per state change, never one per probe.
import { pino, type Logger } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function createLogger(level: LogLevel): Logger {
  return pino({ level, base: { app: 'haproxy-node-agent' }, timestamp: pino.stdTimeFunctions.isoTime });
}
