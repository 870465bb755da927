// The one way a value goes inside a double-quoted HAProxy string, for both config writers
// (render's templates and the demo/e2e writer): HAProxy turns `\n` back into a newline, so
// agent-send ends its line, and `"`, `\`, `$` would otherwise end the string or expand a variable.

/** The inside of a double-quoted string; a raw control character is refused, never written. */
export function escapeHaproxyQuoted(s: string): string {
  let out = '';
  for (const ch of s) {
    if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '"' || ch === '\\' || ch === '$') out += `\\${ch}`;
    else if (ch < ' ' || ch === '\x7f')
      throw new Error(`cannot put control character 0x${ch.charCodeAt(0).toString(16)} in an HAProxy string`);
    else out += ch;
  }
  return out;
}

/** A whole double-quoted HAProxy string. */
export function quoteHaproxyString(s: string): string {
  return `"${escapeHaproxyQuoted(s)}"`;
}
