// One resource kept in sync with a ListWatch (listwatch.ts, client-node's behaviour): list, then
// watch, relist on 410 Gone. ListWatch alone stops for good on any other error and keeps whole
// objects, so we feed it a transport with deadlines and trimmed objects, and restart it with backoff.
import { isPlainObject } from '../core/json.js';
import { ListWatch, Watch, type KubernetesListObject } from './listwatch.js';
import {
  ApiError,
  HungError,
  MAX_OBJECT_BYTES,
  TooLargeError,
  type ApiTransport,
  type StreamHandle,
} from './transport.js';
import type { Cached } from '../core/views.js';

export interface InformerOptions<V> {
  /** Short name for logs and metrics, e.g. "services". */
  resource: string;
  /** Collection path, e.g. /api/v1/services. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  trim: (raw: unknown) => Cached<V> | undefined;
  onUpsert: (c: Cached<V>) => void;
  onDelete: (c: Cached<V>) => void;
  /** After the first full list has been applied (and after every relist). */
  onListed: () => void;
  /** ListWatch stopped on an error; we restart it after `delayMs`. */
  onRestart: (reason: string, err: unknown, delayMs: number) => void;
  onEvent?: (type: string) => void;
  /** An object over MAX_OBJECT_BYTES was skipped (list) or ended its watch (which relists). */
  onTooLarge?: (where: 'list' | 'watch', bytes: number) => void;
}

export interface InformerTiming {
  watchTimeoutMs: number;
  /** Backoff bounds for restarts after errors. */
  minBackoffMs: number;
  maxBackoffMs: number;
  pageSize: number;
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

type Entry<V> = Cached<V> & { apiVersion?: string; kind?: string };

/** What SupervisedWatch tells its ResourceInformer. */
interface WatchHooks {
  /** A watch is starting; true when it follows a fresh list. */
  beforeWatch(): boolean;
  onEvent(type: string): void;
  /** 410 Gone on a watch that started from a fresh list with nothing in between: how long to wait. */
  goneAfterList(err: ApiError): number;
  /** A watch outlived its deadline: it will be replaced by a relist. */
  hung(err: ApiError): void;
  /** The stream said something we cannot trust (a garbled line, an ERROR without a Status, an
   * object over the cap): the watch is failed and replaced by a relist. */
  broken(reason: string, err: ApiError): void;
}

/**
 * ListWatch talks to a `Watch`; this one streams through our transport, trims each object before
 * the cache sees it, asks the server to end watches after watchTimeout, and ends a watch still open
 * hungGraceMs after that as if it were 410 Gone, so ListWatch relists instead of resuming.
 */
class SupervisedWatch<V> extends Watch {
  constructor(
    private readonly transport: ApiTransport,
    private readonly timing: InformerTiming,
    private readonly trim: (raw: unknown) => Cached<V> | undefined,
    private readonly hooks: WatchHooks,
  ) {
    super();
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    const fresh = this.hooks.beforeWatch();
    let events = 0;
    // ListWatch relists at once after a 410. If the watch from a list we just made is already
    // Gone, relisting at once would spin (hundreds of lists a second): wait, with backoff.
    let ended = false;
    // Once per watch: a late failure (e.g. a handler's rejection) must not end it twice.
    const finish = (err: unknown): void => {
      if (ended) return;
      ended = true;
      settle(err);
    };
    const settle = (err: unknown): void => {
      if (err instanceof ApiError && err.statusCode === 410 && fresh && events === 0) {
        setTimeout(() => done(err), this.hooks.goneAfterList(err));
        return;
      }
      // A hung watch may hang again from the same resourceVersion (e.g. a proxy that buffers
      // streams): report it, then answer like a 410 so ListWatch relists rather than resumes.
      if (err instanceof HungError) {
        this.hooks.hung(err);
        return done(new ApiError(err.message, 410));
      }
      // An event over the cap: we cannot know what changed, so relist (which skips that object).
      if (err instanceof TooLargeError) {
        this.hooks.broken('object_too_large', err);
        return settle(new ApiError(err.message, 410));
      }
      done(err);
    };
    // After a broken stream resuming from our resourceVersion could miss what the bad line
    // carried: answer like a 410 so ListWatch relists. The 410-after-fresh-list backoff above
    // keeps a server that only sends garbage from making us relist in a loop.
    const broken = (reason: string, err: ApiError): void => {
      if (ended) return;
      this.hooks.broken(reason, err);
      handle?.abort();
      finish(new ApiError(err.message, 410));
    };
    // ListWatch's handler is async: a throw inside it is a rejected promise nobody awaits. Catch
    // it and treat it as a broken stream rather than an unhandled rejection.
    const deliver = (phase: string, obj: unknown): void => {
      const r: unknown = callback(phase, obj);
      if (r instanceof Promise)
        r.catch((e: unknown) =>
          broken('handler_error', new ApiError(`watch ${path}: ${e instanceof Error ? e.message : String(e)}`)),
        );
    };
    const q = new URLSearchParams({
      watch: 'true',
      allowWatchBookmarks: 'true',
      timeoutSeconds: String(Math.ceil(this.timing.watchTimeoutMs / 1000)),
    });
    for (const [k, v] of Object.entries(queryParams)) if (v !== undefined && v !== '') q.set(k, String(v));
    let handle: StreamHandle | undefined;
    const onLine = (line: string): void => {
      let ev: { type?: unknown; object?: unknown };
      try {
        ev = JSON.parse(line) as typeof ev;
      } catch {
        return broken('bad_line', new ApiError(`watch ${path}: a line that is not JSON`));
      }
      if (typeof ev !== 'object' || ev === null)
        return broken('bad_line', new ApiError(`watch ${path}: a line that is not an event`));
      const type = typeof ev.type === 'string' ? ev.type : '';
      this.hooks.onEvent(type);
      if (type === 'ERROR') {
        // e.g. 410 Expired: ListWatch forgets its resourceVersion; we end the stream so it relists.
        // Only a real Status reaches ListWatch: it reads `.code` of whatever it is given.
        const status = ev.object;
        if (!isPlainObject(status))
          return broken('bad_error_event', new ApiError(`watch ${path}: ERROR event without a Status`));
        const code = (status as { code?: unknown }).code;
        deliver(type, status);
        handle?.abort();
        return finish(
          new ApiError(
            `watch ${path}: ERROR event${typeof code === 'number' ? ` ${code}` : ''}`,
            typeof code === 'number' ? code : undefined,
          ),
        );
      }
      events++;
      if (type === 'BOOKMARK') {
        const rv = (ev.object as { metadata?: { resourceVersion?: unknown } } | undefined)?.metadata?.resourceVersion;
        if (typeof rv === 'string') deliver(type, { metadata: { name: '', resourceVersion: rv } });
        return;
      }
      const c = this.trim(ev.object);
      if (c !== undefined) deliver(type, c);
    };
    try {
      handle = await this.transport.stream(
        `${path}?${q.toString()}`,
        this.timing.watchTimeoutMs + hungGraceMs(this.timing.watchTimeoutMs),
        onLine,
        finish,
      );
    } catch (err) {
      finish(err);
    }
    // ListWatch only ever calls abort() on what we return.
    return { abort: () => handle?.abort() } as AbortController;
  }
}

export class ResourceInformer<V> {
  private readonly lw: ListWatch<Entry<V>>;
  private backoffMs: number;
  private restartTimer: NodeJS.Timeout | undefined;
  private listedSinceWatch = false;
  private stopped = false;

  constructor(
    private readonly transport: ApiTransport,
    private readonly opts: InformerOptions<V>,
    private readonly timing: InformerTiming,
  ) {
    this.backoffMs = timing.minBackoffMs;
    const onEvent = (type: string): void => {
      // The server streams real events again: the next failure starts with a short wait.
      if (type !== 'ERROR') this.backoffMs = timing.minBackoffMs;
      opts.onEvent?.(type);
    };
    const watch = new SupervisedWatch<V>(transport, timing, opts.trim, {
      beforeWatch: () => this.beforeWatch(),
      onEvent,
      goneAfterList: (err) => {
        const delay = this.nextDelay();
        opts.onRestart('gone_after_list', err, delay);
        return delay;
      },
      hung: (err) => opts.onRestart('hung', err, 0),
      broken: (reason, err) => {
        if (err instanceof TooLargeError) opts.onTooLarge?.('watch', err.bytes);
        opts.onRestart(reason, err, 0);
      },
    });
    this.lw = new ListWatch<Entry<V>>(
      opts.path,
      watch,
      () => this.list(),
      false,
      opts.labelSelector,
      opts.fieldSelector,
    );
    this.lw.on('add', (o) => opts.onUpsert(o));
    this.lw.on('update', (o) => opts.onUpsert(o));
    this.lw.on('delete', (o) => opts.onDelete(o));
    this.lw.on('error', (err) => this.scheduleRestart(err));
  }

  start(): void {
    this.stopped = false;
    void this.lw.start();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    void this.lw.stop();
  }

  /** Paginated list through our transport, trimmed as it arrives. */
  private async list(): Promise<KubernetesListObject<Entry<V>>> {
    const items: Entry<V>[] = [];
    let cont = '';
    let resourceVersion = '';
    do {
      const q = new URLSearchParams({ limit: String(this.timing.pageSize) });
      if (this.opts.labelSelector) q.set('labelSelector', this.opts.labelSelector);
      if (this.opts.fieldSelector) q.set('fieldSelector', this.opts.fieldSelector);
      if (cont !== '') q.set('continue', cont);
      // Each item is parsed, trimmed to our view and dropped as it arrives: the page is never
      // held whole, as text or as objects.
      const page = (await this.transport.getList(`${this.opts.path}?${q.toString()}`, MAX_OBJECT_BYTES, {
        item: (json) => {
          const c = this.opts.trim(JSON.parse(json.toString('utf8')));
          if (c !== undefined) items.push(c);
        },
        // Skipped: to us it does not exist (a Service answers like an unknown one), rather than
        // one object keeping every other from syncing.
        oversize: (bytes) => this.opts.onTooLarge?.('list', bytes),
      })) as { metadata?: { resourceVersion?: unknown; continue?: unknown } };
      resourceVersion = typeof page.metadata?.resourceVersion === 'string' ? page.metadata.resourceVersion : '';
      cont = typeof page.metadata?.continue === 'string' ? page.metadata.continue : '';
    } while (cont !== '');
    this.listedSinceWatch = true;
    return { metadata: { resourceVersion }, items };
  }

  /** ListWatch starts its watch right after applying a list: the moment we are in sync. */
  private beforeWatch(): boolean {
    if (!this.listedSinceWatch) return false;
    this.listedSinceWatch = false;
    this.opts.onListed();
    return true;
  }

  /** Jittered exponential backoff: half the current step plus up to another half. */
  private nextDelay(): number {
    const delay = Math.round(this.backoffMs / 2 + (Math.random() * this.backoffMs) / 2);
    this.backoffMs = Math.min(this.backoffMs * 2, this.timing.maxBackoffMs);
    return delay;
  }

  /** Credentials changed (e.g. a rotated token file): a restart waiting out its backoff goes now. */
  retryNow(): void {
    if (this.stopped || this.restartTimer === undefined) return;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    void this.lw.start();
  }

  private scheduleRestart(err: unknown): void {
    if (this.stopped || this.restartTimer !== undefined) return;
    const delay = this.nextDelay();
    const reason =
      err instanceof HungError
        ? 'hung'
        : err instanceof ApiError && err.statusCode !== undefined
          ? `http_${err.statusCode}`
          : 'error';
    this.opts.onRestart(reason, err, delay);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.stopped) void this.lw.start();
    }, delay);
  }
}
