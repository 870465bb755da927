// The paged list reader: GET a collection page by page (limit + continue), every item parsed and
// handed over as it arrives (ListSplitter), so neither a page nor the list is ever held whole, as
// text or as objects. The informer lists with it before each watch.
import { MAX_OBJECT_BYTES, type ApiTransport } from './transport.js';

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
export async function listPages(transport: ApiTransport, q: ListQuery, sink: ListSink): Promise<string> {
  let cont = '';
  let resourceVersion = '';
  do {
    const params = new URLSearchParams({ limit: String(q.pageSize) });
    if (q.labelSelector) params.set('labelSelector', q.labelSelector);
    if (q.fieldSelector) params.set('fieldSelector', q.fieldSelector);
    if (cont !== '') params.set('continue', cont);
    const page = (await transport.getList(`${q.path}?${params.toString()}`, MAX_OBJECT_BYTES, {
      item: (json) => sink.item(JSON.parse(json.toString('utf8'))),
      oversize: (bytes) => sink.oversize(bytes),
    })) as { metadata?: { resourceVersion?: unknown; continue?: unknown } };
    resourceVersion = typeof page.metadata?.resourceVersion === 'string' ? page.metadata.resourceVersion : '';
    cont = typeof page.metadata?.continue === 'string' ? page.metadata.continue : '';
  } while (cont !== '');
  return resourceVersion;
}
