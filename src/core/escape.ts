// A value someone else wrote, made safe to put in a log line or warning: JSON-style escaped (no
// raw newlines or control characters, so it cannot forge lines) and cut to a short prefix plus its
// length, so a 256 KB annotation costs a few bytes of log, not 256 KB.

export const SHOWN_MAX = 64;

export function shown(value: string, max = SHOWN_MAX): string {
  // Line and paragraph separators survive JSON.stringify but end lines in some viewers.
  const esc = (s: string): string =>
    JSON.stringify(s)
      .replace(/\u2028/g, '\\u2028')
      .replace(/\u2029/g, '\\u2029');
  if (value.length <= max) return esc(value);
  return `${esc(value.slice(0, max))}… (${value.length} chars)`;
}
