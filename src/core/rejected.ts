// A rejected annotation value as we keep and log it: its first bytes, escaped, plus its length and
// a digest. Tenants may write 256 KB into an annotation; what we hold and print must not scale with it.
import { createHash } from 'node:crypto';

/** How much of a rejected value we keep, in UTF-8 bytes (before escaping). */
export const REJECTED_PREFIX_BYTES = 64;

export interface RejectedValue {
  /** The value's first bytes, JSON-escaped (newlines, quotes and control characters spelled out), with "…" if cut. */
  value: string;
  /** The whole value's length in UTF-8 bytes. */
  length: number;
  /** Short digest of the whole value: "changed" is decided on this, not on the prefix. */
  digest: string;
}

export function rejectedValue(raw: unknown): RejectedValue {
  const text = typeof raw === 'string' ? raw : (JSON.stringify(raw) ?? String(raw));
  const bytes = Buffer.byteLength(text, 'utf8');
  let prefix = text;
  if (bytes > REJECTED_PREFIX_BYTES) {
    // Cut on a character boundary: decoding a byte-cut prefix drops a split character's tail.
    prefix = Buffer.from(text.slice(0, REJECTED_PREFIX_BYTES), 'utf8')
      .subarray(0, REJECTED_PREFIX_BYTES)
      .toString('utf8')
      .replace(/\uFFFD$/, '');
  }
  const escaped = JSON.stringify(prefix).slice(1, -1) + (prefix.length < text.length ? '…' : '');
  return { value: escaped, length: bytes, digest: createHash('sha1').update(text).digest('base64url').slice(0, 12) };
}
