// The pino logger: JSON lines on stdout. One line per state change, never one per probe.
import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger };

export function createLogger(level: LogLevel): Logger {
  return pino({ level, base: { app: 'haproxy-node-agent' }, timestamp: pino.stdTimeFunctions.isoTime });
}
