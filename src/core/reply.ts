// A Reply's line on the wire, and parsing of the agent-send line (README, "The protocol, as this
// agent speaks it"): every healthy reply carries `ready` (undoes an agent drain/maint) and `up`
// (undoes an agent down), and every reply ends in `\n` or HAProxy ignores it. The bytes a probe gets
// are made once per distinct reply, by core/answer.ts.
import type { Reply } from './decide.js';

export function formatReply(r: Omit<Reply, 'why'>): string {
  switch (r.kind) {
    case 'ready':
      return `ready up ${r.weight ?? 100}%\n`;
    case 'drain':
      return 'drain\n';
    case 'maint':
      return 'maint\n';
    case 'down':
      return r.text === undefined || r.text === '' ? 'down\n' : `down #${sanitizeText(r.text)}\n`;
    case 'none':
      return '';
  }
}

/** Keep a description to one printable line so it can never break the protocol. */
function sanitizeText(text: string): string {
  let out = '';
  for (const ch of text) {
    const c = ch.charCodeAt(0);
    out += c >= 0x20 && c < 0x7f ? ch : ' ';
  }
  return out.slice(0, 120);
}

export type ParsedRequest = { kind: 'node' } | { kind: 'service'; key: string } | { kind: 'malformed' };

/**
 * Parses one agent-send line (without its newline): empty = ask for the node alone;
 * "namespace/name" (DNS labels) = ask for that Service. Anything else is malformed.
 * A hand loop, not a regex: this runs once per probe.
 */
export function parseRequestLine(line: string): ParsedRequest {
  let end = line.length;
  if (end > 0 && line.charCodeAt(end - 1) === 13 /* \r */) end--;
  let start = 0;
  while (start < end && isBlank(line.charCodeAt(start))) start++;
  while (end > start && isBlank(line.charCodeAt(end - 1))) end--;
  if (start === end) return { kind: 'node' };
  let slash = -1;
  for (let i = start; i < end; i++) {
    const c = line.charCodeAt(i);
    if (c === 47 /* / */) {
      if (slash !== -1) return { kind: 'malformed' };
      slash = i;
    } else if (!isLabelChar(c)) {
      return { kind: 'malformed' };
    }
  }
  if (slash === -1 || !isLabel(line, start, slash) || !isLabel(line, slash + 1, end)) return { kind: 'malformed' };
  return { kind: 'service', key: start === 0 && end === line.length ? line : line.slice(start, end) };
}

function isBlank(c: number): boolean {
  return c === 32 || c === 9;
}

function isLabelChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45; // a-z 0-9 -
}

/** RFC 1123 label: 1..63 of [a-z0-9-], not starting or ending with '-'. */
function isLabel(s: string, from: number, to: number): boolean {
  const n = to - from;
  return n >= 1 && n <= 63 && s.charCodeAt(from) !== 45 && s.charCodeAt(to - 1) !== 45;
}

/** Service key used everywhere: "namespace/name", exactly what agent-send carries. */
export function serviceKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}
