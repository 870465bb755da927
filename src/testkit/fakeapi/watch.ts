/**
 * One open watch stream: newline-delimited JSON events over a chunked response,
 * filtered by namespace and selectors the way the apiserver's watch cache does it.
 */
import type { StatusObject } from './errors.js';
import type { Exchange } from './exchange.js';
import type { ResourceInfo } from './resources.js';
import { matchFields, matchLabels, type FieldRequirement, type LabelRequirement } from './selectors.js';
import type { StoreEvent, StoredObject } from './store.js';
import type { WatchEventType } from './types.js';

export interface WatchFilter {
  readonly namespace: string | undefined;
  readonly name: string | undefined;
  readonly labels: readonly LabelRequirement[];
  readonly fields: readonly FieldRequirement[];
}

export function matchesFilter(filter: WatchFilter, obj: StoredObject['obj']): boolean {
  const meta = obj.metadata;
  if (filter.namespace !== undefined && meta.namespace !== filter.namespace) return false;
  if (filter.name !== undefined && meta.name !== filter.name) return false;
  return matchLabels(filter.labels, meta.labels) && matchFields(filter.fields, obj);
}

function line(type: WatchEventType, objectJson: string): string {
  return `{"type":"${type}","object":${objectJson}}\n`;
}

export class WatchStream {
  private readonly ex: Exchange;
  private readonly info: ResourceInfo;
  private readonly filter: WatchFilter;
  private readonly timers: NodeJS.Timeout[] = [];
  private closed = false;
  private readonly closeHandlers: Array<() => void> = [];

  constructor(ex: Exchange, info: ResourceInfo, filter: WatchFilter) {
    this.ex = ex;
    this.info = info;
    this.filter = filter;
    ex.res.on('close', () => this.cleanup());
  }

  /** Sends 200 and the headers right away, as the apiserver does before any event. */
  open(): void {
    this.ex.head(200, { 'Transfer-Encoding': 'chunked' });
    this.ex.res.flushHeaders();
  }

  get resource(): ResourceInfo['resource'] {
    return this.info.resource;
  }

  /** Fault injection: bytes on the stream as they are, whatever they say (garbage, half lines, huge lines). */
  writeRaw(text: string): void {
    this.write(text);
  }

  get isOpen(): boolean {
    return !this.closed && this.ex.open;
  }

  onClose(handler: () => void): void {
    if (this.closed) handler();
    else this.closeHandlers.push(handler);
  }

  /** Replays the current state as ADDED events ("get state and start at most recent"). */
  sendInitial(objects: readonly StoredObject[]): void {
    const lines: string[] = [];
    for (const o of objects) if (matchesFilter(this.filter, o.obj)) lines.push(line('ADDED', o.json));
    if (lines.length > 0) this.write(lines.join(''));
  }

  sendEvents(events: readonly StoreEvent[]): void {
    const lines: string[] = [];
    for (const e of events) {
      const l = this.translate(e);
      if (l) lines.push(l);
    }
    if (lines.length > 0) this.write(lines.join(''));
  }

  sendEvent(event: StoreEvent): void {
    const l = this.translate(event);
    if (l) this.write(l);
  }

  sendBookmark(rv: number, initialEventsEnd = false): void {
    const metadata: Record<string, unknown> = { resourceVersion: String(rv) };
    if (initialEventsEnd) metadata.annotations = { 'k8s.io/initial-events-end': 'true' };
    this.write(line('BOOKMARK', JSON.stringify({ kind: this.info.kind, apiVersion: this.info.apiVersion, metadata })));
  }

  /** An ERROR event ends the stream, e.g. 410 Expired for a compacted resourceVersion. */
  fail(status: StatusObject): void {
    this.write(line('ERROR', JSON.stringify(status)));
    this.end();
  }

  every(ms: number, fn: () => void): void {
    this.timers.push(setInterval(fn, ms));
  }

  after(ms: number, fn: () => void): void {
    this.timers.push(setTimeout(fn, ms));
  }

  /** Graceful server-side close: terminates the chunked body so clients see a normal end. */
  end(): void {
    if (this.ex.open) this.ex.res.end();
    this.cleanup();
  }

  /** Abrupt close, as when the apiserver process dies. */
  destroy(): void {
    this.ex.res.destroy();
    this.cleanup();
  }

  /**
   * Maps a store event to what this watcher should see. Selector transitions turn into
   * ADDED (starts matching) or DELETED (stops matching), as with the real watch cache.
   */
  private translate(e: StoreEvent): string | undefined {
    const now = matchesFilter(this.filter, e.object.obj);
    if (e.type === 'ADDED') return now ? line('ADDED', e.object.json) : undefined;
    if (e.type === 'DELETED') return now ? line('DELETED', e.object.json) : undefined;
    const before = e.previous !== undefined && matchesFilter(this.filter, e.previous.obj);
    if (before && now) return line('MODIFIED', e.object.json);
    if (now) return line('ADDED', e.object.json);
    if (before) return line('DELETED', e.object.json);
    return undefined;
  }

  private write(chunk: string): void {
    if (this.isOpen) this.ex.res.write(chunk);
  }

  private cleanup(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.length = 0;
    for (const h of this.closeHandlers.splice(0)) h();
  }
}
