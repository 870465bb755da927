// sync's announcement of each TCP Service's port: the annotation PREFIX/assigned-tcp-port on the
// Service, so its owner reads the port with kubectl. The claims record decides; the annotation only
// reports it: set where a Service holds a port and differs, removed where a Service carries one
// without holding a port (a tenant's hand-written value included). One merge PATCH of
// metadata.annotations per Service that differs, never more: the Service watch shows the result.
import type { ClusterSnapshot, TcpService } from '../edge/model.js';
import { TCP_ANNOTATION } from '../edge/tcp-annotations.js';
import { arr, obj, str } from '../core/json.js';
import { errorMessage } from '../core/error-message.js';
import type { ApiTransport } from '../kube/transport.js';
import type { Logger } from '../platform/log.js';

export interface AnnotationChange {
  cluster: string;
  namespace: string;
  name: string;
  /** The port as text, or null to remove the annotation. */
  value: string | null;
  /** What the Service carries now (null: nothing). */
  has: string | null;
}

/** PURE: the patches that make every Service's annotation say what the model assigned. */
export function annotationChanges(
  clusters: readonly ClusterSnapshot[],
  tcp: readonly TcpService[],
  prefix: string,
): AnnotationChange[] {
  const key = `${prefix}/${TCP_ANNOTATION.assigned}`;
  const want = new Map(tcp.map((t) => [t.service.identity, String(t.port)]));
  const out: AnnotationChange[] = [];
  for (const c of clusters)
    for (const raw of arr(c.services)) {
      const md = obj(obj(raw).metadata);
      const name = str(md.name);
      const namespace = str(md.namespace) ?? 'default';
      if (name === undefined) continue;
      const has = str(obj(md.annotations)[key]);
      const value = want.get(`${c.name}/${namespace}/${name}`) ?? null;
      if ((has ?? null) !== value) out.push({ cluster: c.name, namespace, name, value, has: has ?? null });
    }
  return out;
}

export class AssignedPortWriter {
  /**
   * Per Service, the (seen, sent) pair of the last patch: a slow watch does not make us send it
   * again and again, and a value written by hand after it (a new seen) is corrected again.
   */
  private readonly sent = new Map<string, string>();

  constructor(
    private readonly prefix: string,
    private readonly transportOf: (cluster: string) => ApiTransport | undefined,
    private readonly log: Logger,
  ) {}

  async write(clusters: readonly ClusterSnapshot[], tcp: readonly TcpService[]): Promise<void> {
    const key = `${this.prefix}/${TCP_ANNOTATION.assigned}`;
    const changes = annotationChanges(clusters, tcp, this.prefix);
    const wanted = new Set(changes.map((c) => `${c.cluster}/${c.namespace}/${c.name}`));
    for (const id of [...this.sent.keys()]) if (!wanted.has(id)) this.sent.delete(id);
    for (const c of changes) {
      const id = `${c.cluster}/${c.namespace}/${c.name}`;
      const pair = JSON.stringify([c.has, c.value]);
      if (this.sent.get(id) === pair) continue;
      const api = this.transportOf(c.cluster);
      if (api === undefined) continue;
      try {
        await api.mergePatchJson(`/api/v1/namespaces/${c.namespace}/services/${c.name}`, {
          metadata: { annotations: { [key]: c.value } },
        });
        this.sent.set(id, pair);
        this.log.info({ service: id, port: c.value }, `service ${id}: ${key} set to ${c.value ?? '(removed)'}`);
      } catch (err) {
        this.log.warn(
          { service: id, err: errorMessage(err) },
          `service ${id}: cannot set ${key}: ${errorMessage(err)}`,
        );
      }
    }
  }
}
