// The /status body. With 10k Services the document is ~2 MB and tens of ms of CPU to build and
// serialize, which stalls every other socket of the process: so the agent state part is serialized
// once per state version (and detail level) and shared as one Buffer by every request; only a
// few small live fields are serialized per request and appended.

export const STATUS_DETAILS = ['loopback', 'all', 'none'] as const;
/** Who sees the per-Service list: clients on this node only (default), everybody, nobody. */
export type StatusDetail = (typeof STATUS_DETAILS)[number];

export interface StatusSource {
  /** Changes whenever document() would. */
  version(): number;
  /** The agent state part; its `services` (and `live(true)` extras) are the per-Service detail. */
  document(): { services: readonly unknown[] };
  /** Small fields that change without a new version (API contact age, dedicated ports). */
  live(detail: boolean): Record<string, unknown>;
}

interface Cached {
  version: number;
  /** Pretty JSON of the document without its closing "\n}". */
  head: Buffer;
}

export class StatusBody {
  private full: Cached | undefined;
  private brief: Cached | undefined;

  constructor(
    private readonly src: StatusSource,
    private readonly mode: StatusDetail,
  ) {}

  /** Head (cached) and tail (fresh): written one after the other, the head never copied. */
  render(detail: boolean): [Buffer, Buffer] {
    const version = this.src.version();
    let c = detail ? this.full : this.brief;
    if (c === undefined || c.version !== version) {
      c = { version, head: Buffer.from(serializeOpen(detail ? this.src.document() : this.hide(this.src.document()))) };
      if (detail) this.full = c;
      else this.brief = c;
    }
    let tail = '';
    for (const [k, v] of Object.entries(this.src.live(detail)))
      tail += `,\n  ${JSON.stringify(k)}: ${JSON.stringify(v, null, 2).replaceAll('\n', '\n  ')}`;
    return [c.head, Buffer.from(`${tail}\n}\n`)];
  }

  private hide(doc: ReturnType<StatusSource['document']>): object {
    const { services, ...rest } = doc;
    const who =
      this.mode === 'none'
        ? 'to nobody (--status-detail=none)'
        : 'only to clients on this node (--status-detail=loopback)';
    return { ...rest, serviceCount: services.length, detail: `per-Service detail is shown ${who}` };
  }
}

/** JSON.stringify(doc, null, 2) minus the closing "\n}", so fields can be appended. */
function serializeOpen(doc: object): string {
  const s = JSON.stringify(doc, null, 2);
  return s.slice(0, s.length - 2);
}
