// PURE: a Service's TCP annotations → what it asks for: PREFIX/tcp-port ("auto" or a port number)
// and its timeouts (PREFIX/tcp-timeout-client, PREFIX/tcp-timeout-server). Hostile input: every
// value is checked before it can reach a configuration line; a bad one skips the Service's TCP side.
import { shown } from '../core/escape.js';

export const TCP_ANNOTATION = {
  port: 'tcp-port',
  assigned: 'assigned-tcp-port',
  timeoutClient: 'tcp-timeout-client',
  timeoutServer: 'tcp-timeout-server',
} as const;

/** Database-friendly: an idle connection pool keeps its connections for an hour. */
export const DEFAULT_TCP_TIMEOUT_MS = 60 * 60 * 1000;
export const MIN_TCP_TIMEOUT_MS = 1000;
export const MAX_TCP_TIMEOUT_MS = 7 * 24 * 60 * 60 * 1000;

export interface TcpAsk {
  wanted: 'auto' | number;
  timeoutClientMs: number;
  timeoutServerMs: number;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90s", "1h", "500ms"; undefined when not a duration within the bounds. */
export function tcpTimeout(v: string): number | undefined {
  const m = /^([0-9]{1,9})(ms|s|m|h|d)$/.exec(v);
  if (m === null) return undefined;
  const ms = Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  return ms >= MIN_TCP_TIMEOUT_MS && ms <= MAX_TCP_TIMEOUT_MS ? ms : undefined;
}

/**
 * Undefined with no PREFIX/tcp-port; `{error}` when a value is bad. `a` reads one annotation by its
 * name after PREFIX/, trimmed.
 */
export function tcpAsk(prefix: string, a: (key: string) => string | undefined): TcpAsk | { error: string } | undefined {
  const port = a(TCP_ANNOTATION.port);
  if (port === undefined) return undefined;
  let wanted: 'auto' | number;
  if (port.toLowerCase() === 'auto') wanted = 'auto';
  else if (/^[1-9][0-9]{0,4}$/.test(port) && Number(port) <= 65535) wanted = Number(port);
  else return { error: `${prefix}/${TCP_ANNOTATION.port} ${shown(port)} is neither "auto" nor a port 1..65535` };
  const timeouts: number[] = [];
  for (const key of [TCP_ANNOTATION.timeoutClient, TCP_ANNOTATION.timeoutServer]) {
    const v = a(key);
    const ms = v === undefined ? DEFAULT_TCP_TIMEOUT_MS : tcpTimeout(v);
    if (ms === undefined)
      return { error: `${prefix}/${key} ${shown(v ?? '')} is not a duration 1s..7d such as 30m or 1h` };
    timeouts.push(ms);
  }
  return { wanted, timeoutClientMs: timeouts[0] as number, timeoutServerMs: timeouts[1] as number };
}
