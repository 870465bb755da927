// The paged list reader: GET a collection page by page (limit + continue), every item parsed and
// handed over as it arrives (ListSplitter), so neither a page nor the list is ever held whole, as
// text or as objects. The informer lists with it before each watch.
import { ApiError, MAX_OBJECT_BYTES, type ApiTransport } from './transport.js';

/**
 * How long one list may be. A `continue` that never ends (a broken or hostile API server) would
 * page until the heap runs out; a real list ends. 100,000 items is 5x the largest cluster the
 * README measures (20,000 EndpointSlices); 1,000 pages bounds lists of short or empty pages.
 */
export interface ListLimits {
  maxItems: number;
  maxPages: number;
}

export const DEFAULT_LIST_LIMITS: ListLimits = { maxItems: 100_000, maxPages: 1_000 };

/** A list that ran past its ListLimits (or repeated a continue token): abandoned, retried later. */
export class ListTooLongError extends ApiError {
  constructor(message: string) {
    super(message);
    this.name = 'ListTooLongError';
  }
}

export interface ListQuery {
  /** Collection path, e.g. /api/v1/services. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  pageSize: number;
}

export interface ListSink {
  /** One item, parsed. */
  item(raw: unknown): void;
  /** An item over MAX_OBJECT_BYTES was skipped: to us it does not exist. */
  oversize(bytes: number): void;
}

/** Reads every page; resolves with the list's resourceVersion (the last page's). */
export async function listPages(
  transport: ApiTransport,
  q: ListQuery,
  sink: ListSink,
  limits: ListLimits = DEFAULT_LIST_LIMITS,
): Promise<string> {
  let cont = '';
  let resourceVersion = '';
  let pages = 0;
  let items = 0;
  const tooLong = (why: string): ListTooLongError =>
    new ListTooLongError(`list of ${q.path} abandoned after ${pages} pages and ${items} items: ${why}`);
  do {
    if (pages >= limits.maxPages) throw tooLong(`over ${limits.maxPages} pages (a continue that never ends?)`);
    const params = new URLSearchParams({ limit: String(q.pageSize) });
    if (q.labelSelector) params.set('labelSelector', q.labelSelector);
    if (q.fieldSelector) params.set('fieldSelector', q.fieldSelector);
    if (cont !== '') params.set('continue', cont);
    const page = (await transport.getList(`${q.path}?${params.toString()}`, MAX_OBJECT_BYTES, {
      item: (json) => {
        // Thrown inside the splitter, this fails the request at once (its body is not read on).
        if (++items > limits.maxItems) throw tooLong(`over ${limits.maxItems} items`);
        sink.item(JSON.parse(json.toString('utf8')));
      },
      oversize: (bytes) => sink.oversize(bytes),
    })) as { metadata?: { resourceVersion?: unknown; continue?: unknown } };
    pages++;
    resourceVersion = typeof page.metadata?.resourceVersion === 'string' ? page.metadata.resourceVersion : '';
    const next = typeof page.metadata?.continue === 'string' ? page.metadata.continue : '';
    if (next !== '' && next === cont) throw tooLong('the same continue token twice');
    cont = next;
  } while (cont !== '');
  return resourceVersion;
}

export interface ListAllOptions {
  labelSelector?: string;
  fieldSelector?: string;
  /** Default 250, as the informer pages. */
  pageSize?: number;
  limits?: ListLimits;
  /** An item over MAX_OBJECT_BYTES was skipped. */
  onOversize?: (bytes: number) => void;
}

/**
 * One full read of a collection for a program that does not watch (render, sync): paged, each
 * item trimmed as it arrives, so what `trim` keeps is all that is ever held, whatever tenants
 * wrote. An item `trim` rejects (undefined) is dropped.
 */
export async function listAll<T>(
  transport: ApiTransport,
  path: string,
  trim: (raw: unknown) => T | undefined,
  opts: ListAllOptions = {},
): Promise<{ items: T[]; resourceVersion: string }> {
  const items: T[] = [];
  const resourceVersion = await listPages(
    transport,
    {
      path,
      pageSize: opts.pageSize ?? 250,
      ...(opts.labelSelector === undefined ? {} : { labelSelector: opts.labelSelector }),
      ...(opts.fieldSelector === undefined ? {} : { fieldSelector: opts.fieldSelector }),
    },
    {
      item: (raw) => {
        const v = trim(raw);
        if (v !== undefined) items.push(v);
      },
      oversize: (bytes) => opts.onOversize?.(bytes),
    },
    opts.limits,
  );
  return { items, resourceVersion };
}
