// Splits a Kubernetes list body ({"kind":…,"metadata":…,"items":[{…},{…}]}) into its items while the
// bytes arrive, so a page costs one item at a time, not the whole page as text plus its parse.
// Byte-level: every JSON structural character is ASCII and no UTF-8 continuation byte is, so a
// tiny state machine (in string, escape, depth) finds item boundaries without decoding.
import { isPlainObject } from '../core/json.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJ = 0x7b;
const CLOSE_OBJ = 0x7d;
const OPEN_ARR = 0x5b;
const CLOSE_ARR = 0x5d;
const COMMA = 0x2c;

/** Everything but the items (kind, apiVersion, metadata) is small: cap it. */
export const MAX_ENVELOPE_BYTES = 1 << 20;

export class ListSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ListSyntaxError';
  }
}

export interface SplitterSink {
  /** One whole item, as UTF-8 JSON bytes. */
  item(json: Buffer): void;
  /** An item longer than the cap was skipped; `bytes` is its length. */
  oversize(bytes: number): void;
}

type Mode = 'envelope' | 'between' | 'item';

export class ListSplitter {
  private mode: Mode = 'envelope';
  private depth = 0;
  private inString = false;
  private escape = false;
  private readonly envelope: Buffer[] = [];
  private envelopeBytes = 0;
  /** The envelope's last bytes, to recognise `"items":` however the chunks fell. */
  private envelopeTail = '';
  private itemParts: Buffer[] = [];
  private itemBytes = 0;
  private sawItems = false;

  constructor(
    private readonly sink: SplitterSink,
    private readonly maxItemBytes: number,
  ) {}

  push(chunk: Buffer): void {
    let seg = 0; // start of the part of this chunk not yet handed to the envelope or the item
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i] as number;
      if (this.inString) {
        if (this.escape) this.escape = false;
        else if (c === BACKSLASH) this.escape = true;
        else if (c === QUOTE) this.inString = false;
        continue;
      }
      if (this.mode === 'between') {
        // Inside the items array, between items: only blanks, commas, the next object or the end.
        if (c === OPEN_OBJ) {
          this.mode = 'item';
          this.depth++;
          seg = i;
        } else if (c === CLOSE_ARR) {
          this.mode = 'envelope';
          this.depth--;
          seg = i;
        } else if (c !== COMMA && c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) {
          throw new ListSyntaxError(`list item is not an object (byte 0x${c.toString(16)})`);
        }
        continue;
      }
      if (c === QUOTE) {
        this.inString = true;
      } else if (c === OPEN_OBJ || c === OPEN_ARR) {
        if (this.mode === 'envelope' && c === OPEN_ARR && this.depth === 1 && this.atItemsKey(chunk.subarray(seg, i))) {
          this.addEnvelope(chunk.subarray(seg, i + 1));
          this.mode = 'between';
          this.sawItems = true;
        }
        this.depth++;
      } else if (c === CLOSE_OBJ || c === CLOSE_ARR) {
        this.depth--;
        if (this.depth < 0) throw new ListSyntaxError('unbalanced list body');
        if (this.mode === 'item' && this.depth === 2) {
          this.addItem(chunk.subarray(seg, i + 1));
          this.emitItem();
          this.mode = 'between';
        }
      }
    }
    if (this.mode === 'envelope') this.addEnvelope(chunk.subarray(seg));
    else if (this.mode === 'item') this.addItem(chunk.subarray(seg));
  }

  /** The list without its items (parsed), once the body has ended. */
  end(): { metadata?: unknown; items?: unknown } {
    if (this.depth !== 0 || this.inString || this.mode !== 'envelope')
      throw new ListSyntaxError('list body ended early');
    let doc: unknown;
    try {
      doc = JSON.parse(Buffer.concat(this.envelope).toString('utf8'));
    } catch {
      throw new ListSyntaxError('list body is not JSON');
    }
    if (!isPlainObject(doc)) throw new ListSyntaxError('list body is not an object');
    const d = doc as { metadata?: unknown; items?: unknown };
    if (!this.sawItems && d.items !== null) throw new ListSyntaxError('list body has no items');
    return d;
  }

  /** Is the envelope so far (plus `tail`) at `"items":`, i.e. this `[` opens the items array? */
  private atItemsKey(tail: Buffer): boolean {
    return /"items"\s*:\s*$/.test((this.envelopeTail + tail.toString('latin1')).slice(-64));
  }

  private addEnvelope(b: Buffer): void {
    if (b.length === 0) return;
    this.envelopeBytes += b.length;
    if (this.envelopeBytes > MAX_ENVELOPE_BYTES)
      throw new ListSyntaxError(`list body outside its items is over ${MAX_ENVELOPE_BYTES} bytes`);
    // Copy: the chunk is the socket's buffer and the envelope outlives it.
    this.envelope.push(Buffer.from(b));
    this.envelopeTail = (this.envelopeTail + b.toString('latin1')).slice(-64);
  }

  private addItem(b: Buffer): void {
    this.itemBytes += b.length;
    // Past the cap, keep counting (to find its end) but keep no bytes.
    if (this.itemBytes > this.maxItemBytes) this.itemParts = [];
    else this.itemParts.push(b);
  }

  private emitItem(): void {
    const bytes = this.itemBytes;
    const parts = this.itemParts;
    this.itemParts = [];
    this.itemBytes = 0;
    if (bytes > this.maxItemBytes) this.sink.oversize(bytes);
    else this.sink.item(parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, bytes));
  }
}
