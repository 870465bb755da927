// The pino logger: JSON lines on stdout (levels as strings, as log pipelines expect), or text lines
// for a person at a terminal. One line per state change, never one per probe.
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const LOG_FORMATS = ['json', 'text'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export function createLogger(level: LogLevel, format: LogFormat = 'json'): Logger {
  const opts = {
    level,
    base: { app: 'haproxy-node-agent' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  // Text: pino's own stdout stream underneath (flushed at exit, as for JSON).
  return format === 'json' ? pino(opts) : pino(opts, textStream(pino.destination(1)));
}

/** Rewrites each JSON line pino emits as `TIME LEVEL msg key=value ...` (cheap: a line per state change). */
function textStream(out: DestinationStream): DestinationStream {
  return {
    write(line: string): void {
      out.write(`${textLine(line)}\n`);
    },
  };
}

/** One JSON log line as text. Tenant text may sit in any field: control and bidi characters are escaped. */
export function textLine(json: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return escapeText(json.trimEnd());
  }
  const { time, level, msg, app: _app, err, ...fields } = rec;
  let s = `${String(time ?? '')} ${String(level ?? '').toUpperCase()} ${escapeText(String(msg ?? ''))}`;
  for (const [k, v] of Object.entries(fields)) s += ` ${escapeText(k)}=${textValue(v)}`;
  if (err !== undefined) s += errorText(err);
  return s;
}

/** Plain when it is one safe word, else quoted JSON (which escapes quotes, backslashes and controls). */
function textValue(v: unknown): string {
  if (typeof v === 'string') return /^[\w.:/@%+,-]+$/.test(v) ? v : escapeText(JSON.stringify(v));
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return escapeText(JSON.stringify(v) ?? String(v));
}

/** err (an Error, or a stack as a string): its message on the line, the stack's frames indented below. */
function errorText(err: unknown): string {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { message?: unknown; stack?: unknown };
  const stack = typeof err === 'string' ? err : typeof e.stack === 'string' ? e.stack : undefined;
  let [first = '', ...frames] = (stack ?? '').split('\n');
  // Only a real stack is split into lines: a message with a newline in it (tenant text, say) stays
  // on its line, escaped.
  if (!frames.every((f) => /^\s+at \S/.test(f))) [first, frames] = [stack ?? '', []];
  const message = typeof err === 'string' ? first : String(e.message ?? (typeof err === 'object' ? '' : err));
  let s = ` err=${textValue(message)}`;
  for (const frame of frames) s += `\n    ${escapeText(frame.trim())}`;
  return s;
}

/** C0/C1 controls, line and paragraph separators and bidi overrides: what could forge or hide a line. */
function unsafe(c: number): boolean {
  return (
    c < 0x20 ||
    (c >= 0x7f && c <= 0x9f) ||
    c === 0x200e ||
    c === 0x200f ||
    c === 0x2028 ||
    c === 0x2029 ||
    (c >= 0x202a && c <= 0x202e) ||
    (c >= 0x2066 && c <= 0x2069)
  );
}

/** `s` with every unsafe character written as \uXXXX. */
export function escapeText(s: string): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!unsafe(c)) continue;
    out += `${s.slice(from, i)}\\u${c.toString(16).padStart(4, '0')}`;
    from = i + 1;
  }
  return from === 0 ? s : out + s.slice(from);
}
