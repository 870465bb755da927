// One resource kept in sync: one state machine for list and watch. List (paged, trimmed as it
// arrives), watch from the list's resourceVersion, re-watch after a clean end; every other end is a
// Restart with an explicit reason that says whether to relist and whether to wait first.
import {
  ApiError,
  EndedEarlyError,
  HungError,
  TooLargeError,
  type ApiTransport,
  type StreamHandle,
} from './transport.js';
import { DEFAULT_LIST_LIMITS, ListTooLongError, listPages, type ListLimits } from './list.js';
import { Store, decodeWatchLine, type BrokenLine, type ObjectKey } from './listwatch.js';
import { Backoff } from './backoff.js';
import type { Parsed } from '../core/views.js';

/**
 * Why a list/watch restarted; the label of `watch_restarts_total{reason}`. `gone` (410 on a watch)
 * is routine and not counted; `http_NNN` is an error status, `error` anything else (unreachable,
 * a list that timed out, a cut connection).
 */
export type RestartReason =
  | 'gone'
  | 'gone_after_list'
  | 'hung'
  | 'ended_early'
  | 'list_too_long'
  | 'object_too_large'
  | BrokenLine
  | `http_${number}`
  | 'error';

export interface Restart {
  reason: RestartReason;
  /** Forget the resourceVersion and list again (else the watch resumes from it). */
  relist: boolean;
  err: unknown;
}

export interface InformerOptions<V> {
  /** Short name for logs and metrics, e.g. "services". */
  resource: string;
  /** Collection path, e.g. /api/v1/services. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  trim: (raw: unknown) => Parsed<V> | undefined;
  onUpsert: (c: Parsed<V>) => void;
  onDelete: (c: Parsed<V>) => void;
  /** After the first full list has been applied (and after every relist). */
  onListed: () => void;
  /** A counted restart (every reason but `gone`), after `delayMs`. */
  onRestart: (reason: RestartReason, err: unknown, delayMs: number) => void;
  onEvent?: (type: string) => void;
  /** An object over MAX_OBJECT_BYTES was skipped (list) or ended its watch (which relists). */
  onTooLarge?: (where: 'list' | 'watch', bytes: number) => void;
}

export interface InformerTiming {
  watchTimeoutMs: number;
  /** Backoff bounds for restarts after errors (failed lists and failed watches each have their own). */
  minBackoffMs: number;
  maxBackoffMs: number;
  pageSize: number;
  /** Caps on one list (a continue that never ends); default DEFAULT_LIST_LIMITS. */
  listLimits?: ListLimits;
}

// Lists stream item by item (ListSplitter), so a page costs one item of our memory whatever its
// size; 250 (not 500) halves what the API server builds per page when tenants' objects are large.
export const DEFAULT_TIMING: Omit<InformerTiming, 'watchTimeoutMs'> = {
  minBackoffMs: 250,
  maxBackoffMs: 30_000,
  pageSize: 250,
};

/** Grace past the server-side watch timeout before an open watch counts as hung: 1..10 s. */
export function hungGraceMs(watchTimeoutMs: number): number {
  return Math.min(10_000, Math.max(1000, Math.round(watchTimeoutMs / 4)));
}

/**
 * A watch that ends cleanly, without an event, sooner than this was not ended by the server's
 * timeout (at least a second, --watch-timeout): re-watching at once would spin.
 */
export function quickEndMs(watchTimeoutMs: number): number {
  return Math.min(1000, watchTimeoutMs / 2);
}

/** How a failed list or watch restarts. `wait`: whether the restart waits out the backoff. */
export function restartFor(err: unknown, during: 'list' | 'watch' = 'watch'): Restart & { wait: boolean } {
  if (err instanceof ListTooLongError) return { reason: 'list_too_long', relist: true, err, wait: true };
  // A hung watch may hang again from the same resourceVersion (e.g. a proxy that buffers streams).
  if (err instanceof HungError) return { reason: 'hung', relist: true, err, wait: false };
  // An event over the cap: we cannot know what changed, so relist (which skips that object).
  if (err instanceof TooLargeError) return { reason: 'object_too_large', relist: true, err, wait: false };
  if (err instanceof ApiError && err.statusCode === 410 && during === 'watch')
    return { reason: 'gone', relist: true, err, wait: false };
  const reason: RestartReason =
    err instanceof ApiError && err.statusCode !== undefined ? `http_${err.statusCode}` : 'error';
  return { reason, relist: false, err, wait: true };
}

/** namespace/name of a raw object, when it has a name. */
function rawKey(raw: unknown): ObjectKey | undefined {
  const md = (raw as { metadata?: { name?: unknown; namespace?: unknown } } | null)?.metadata;
  if (typeof md?.name !== 'string' || md.name === '') return undefined;
  return { namespace: typeof md.namespace === 'string' ? md.namespace : '', name: md.name };
}

type Phase = 'stopped' | 'listing' | 'watching' | 'waiting';

export class ResourceInformer<V> {
  private phase: Phase = 'stopped';
  /** Bumped on every transition: what an older list or watch reports afterwards is ignored. */
  private run = 0;
  private resourceVersion = '';
  private watch: StreamHandle | undefined;
  private timer: NodeJS.Timeout | undefined;
  /**
   * Failed lists in a row; reset by a list that succeeds, so a short outage after another starts
   * from the shortest wait again (the server answered: it is not the same outage).
   */
  private readonly listBackoff: Backoff;
  /**
   * Watches in a row that failed before proving anything (an error, or a fresh watch that ended
   * with nothing: the spin guard); reset only by a watch event or a watch that ends on time. Not by
   * a list: a server whose lists work but whose watches fail at once must still be backed off.
   */
  private readonly watchBackoff: Backoff;
  private readonly store: Store<Parsed<V>>;

  constructor(
    private readonly transport: ApiTransport,
    private readonly opts: InformerOptions<V>,
    private readonly timing: InformerTiming,
  ) {
    this.listBackoff = new Backoff(timing.minBackoffMs, timing.maxBackoffMs);
    this.watchBackoff = new Backoff(timing.minBackoffMs, timing.maxBackoffMs);
    this.store = new Store<Parsed<V>>({ upsert: (o) => opts.onUpsert(o), delete: (o) => opts.onDelete(o) });
  }

  /** Starts (or resumes, after stop(), from the last resourceVersion). */
  start(): void {
    if (this.phase !== 'stopped') return;
    this.next();
  }

  stop(): void {
    this.run++;
    this.phase = 'stopped';
    clearTimeout(this.timer);
    this.timer = undefined;
    this.watch?.abort();
    this.watch = undefined;
  }

  /** Credentials changed (e.g. a rotated token file): a restart waiting out its backoff goes now. */
  retryNow(): void {
    if (this.phase !== 'waiting') return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.next();
  }

  /** List when we hold no resourceVersion, else watch from it. */
  private next(): void {
    const run = ++this.run;
    if (this.resourceVersion === '') void this.list(run);
    else this.startWatch(run, false);
  }

  private async list(run: number): Promise<void> {
    this.phase = 'listing';
    const items: Array<Parsed<V>> = [];
    const unreadable: ObjectKey[] = [];
    const { path, labelSelector, fieldSelector } = this.opts;
    let resourceVersion: string;
    try {
      resourceVersion = await listPages(
        this.transport,
        { path, labelSelector, fieldSelector, pageSize: this.timing.pageSize },
        {
          item: (raw) => {
            const c = this.opts.trim(raw);
            if (c !== undefined) items.push(c);
            else {
              // There but unreadable (e.g. a decision ConfigMap whose content does not parse): what we
              // last read of it stays, as when a watch event cannot be read. Only its absence deletes.
              const k = rawKey(raw);
              if (k !== undefined) unreadable.push(k);
            }
          },
          // Skipped: to us it does not exist (a Service answers like an unknown one), rather than
          // one object keeping every other from syncing.
          oversize: (bytes) => this.opts.onTooLarge?.('list', bytes),
        },
        this.timing.listLimits ?? DEFAULT_LIST_LIMITS,
      );
    } catch (err) {
      // Whatever the status (a 410 too: an expired continue token), a failed list is retried with
      // backoff, from a fresh list.
      if (run === this.run)
        this.restart(run, { ...restartFor(err, 'list'), relist: true, wait: true }, false, 0, this.listBackoff);
      return;
    }
    if (run !== this.run) return;
    // The server answered a whole list: the next failed list starts from the shortest wait.
    this.listBackoff.reset();
    this.store.replaceAll(items, unreadable);
    this.resourceVersion = resourceVersion;
    // In sync: the moment the watch from this list starts.
    this.opts.onListed();
    if (run === this.run) this.startWatch(run, true);
  }

  /** `fresh`: this watch starts from a list just made. */
  private startWatch(run: number, fresh: boolean): void {
    this.phase = 'watching';
    let events = 0;
    const openedAt = Date.now();
    const q = new URLSearchParams({
      watch: 'true',
      allowWatchBookmarks: 'true',
      timeoutSeconds: String(Math.ceil(this.timing.watchTimeoutMs / 1000)),
      resourceVersion: this.resourceVersion,
    });
    if (this.opts.labelSelector !== undefined) q.set('labelSelector', this.opts.labelSelector);
    if (this.opts.fieldSelector !== undefined) q.set('fieldSelector', this.opts.fieldSelector);
    for (const [k, v] of [...q]) if (v === '') q.delete(k);
    const path = this.opts.path;
    const ended = (r: Restart | null): void => {
      if (run !== this.run) return;
      this.watch?.abort();
      this.watch = undefined;
      if (r === null) {
        const openMs = Date.now() - openedAt;
        if (events === 0 && openMs < quickEndMs(this.timing.watchTimeoutMs)) {
          const err = new EndedEarlyError(`watch ${path}`, openMs);
          const early: Restart & { wait: boolean } = { reason: 'ended_early', relist: false, err, wait: true };
          return this.restart(run, early, fresh, events, this.watchBackoff);
        }
        // A clean end on time: the server behaves, so the next failure starts with a short wait.
        this.watchBackoff.reset();
        return this.next(); // watch on from where we are
      }
      this.restart(run, r, fresh, events, this.watchBackoff);
    };
    const onLine = (line: string): void => {
      if (run !== this.run) return;
      const ev = decodeWatchLine(line);
      if (ev.type !== undefined) {
        // The server streams real events again: the next failure starts with a short wait.
        if (ev.type !== 'ERROR') this.watchBackoff.reset();
        this.opts.onEvent?.(ev.type);
      }
      switch (ev.kind) {
        case 'broken':
          // Resuming from our resourceVersion could miss what the bad line carried: relist.
          return ended({ reason: ev.reason, relist: true, err: new ApiError(`watch ${path}: ${ev.message}`) });
        case 'error': {
          // e.g. 410 Expired: the stream ends here; its code decides like an HTTP status would.
          const err = new ApiError(`watch ${path}: ERROR event${ev.code === undefined ? '' : ` ${ev.code}`}`, ev.code);
          return ended(restartFor(err));
        }
        case 'bookmark':
          events++;
          if (ev.resourceVersion !== undefined) this.resourceVersion = ev.resourceVersion;
          return;
        case 'event':
          events++;
          return this.apply(ev.type, ev.object);
      }
    };
    this.watch = this.transport.stream(
      `${path}?${q.toString()}`,
      this.timing.watchTimeoutMs + hungGraceMs(this.timing.watchTimeoutMs),
      onLine,
      (err) => ended(err === null ? null : restartFor(err)),
    );
  }

  private apply(type: string, raw: unknown): void {
    const c = this.opts.trim(raw);
    if (c === undefined) return; // unreadable: what we hold of it stays
    if (type === 'ADDED' || type === 'MODIFIED') this.store.upsert(c);
    else if (type === 'DELETED') this.store.remove(c);
    this.resourceVersion = c.metadata.resourceVersion ?? '';
  }

  /**
   * A list or watch ended with `r`. Relisting at once after a watch from a fresh list that saw
   * nothing would spin (hundreds of lists a second against a server whose fresh watches are Gone
   * or garbled): that one waits, with backoff, and a 410 there counts as `gone_after_list`.
   * `backoff`: the one of the kind that failed (list or watch).
   */
  private restart(
    run: number,
    r: Restart & { wait?: boolean },
    fresh: boolean,
    events: number,
    backoff: Backoff,
  ): void {
    const spin = fresh && events === 0 && r.reason !== 'hung';
    const reason: RestartReason = spin && r.reason === 'gone' ? 'gone_after_list' : r.reason;
    const delay = r.wait === true || spin ? backoff.next() : 0;
    if (r.err instanceof TooLargeError) this.opts.onTooLarge?.('watch', r.err.bytes);
    if (reason !== 'gone') this.opts.onRestart(reason, r.err, delay);
    if (r.relist) this.resourceVersion = '';
    if (delay === 0) return this.next();
    this.phase = 'waiting';
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (run === this.run) this.next();
    }, delay);
  }
}
