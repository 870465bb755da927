// What HAProxy should run: the edge model's text (what --out holds) and its servers, keyed the way
// the runtime API names them (backend, server). Pure.
import type { Model } from '../edge/model.js';
import { type OutputSettings, renderHaproxy } from '../edge/output.js';
import type { Template } from '../edge/template.js';
import { structureOf } from '../edge/config-text.js';

export interface DesiredServer {
  backend: string;
  name: string;
  address: string;
  port: number;
  /** namespace/name: what agent-send carries (without the newline the runtime CLI cannot send). */
  key: string;
  cluster: string;
  node: string;
}

export interface Desired {
  /** The whole fragment, byte for byte what render would print for the same model. */
  text: string;
  /** text without servers and comments; a change here needs a reload. */
  structure: string;
  /** backend → server name → server. */
  servers: Map<string, Map<string, DesiredServer>>;
  warnings: readonly string[];
}

export function desiredState(model: Model, settings: OutputSettings, template?: Template): Desired {
  const text = renderHaproxy(model, settings, template);
  const servers = new Map<string, Map<string, DesiredServer>>();
  const sections = [...model.backends, ...model.tcp.map((t) => ({ name: t.name, servers: t.servers }))];
  for (const b of sections) {
    const m = new Map<string, DesiredServer>();
    for (const s of b.servers)
      m.set(s.name, {
        backend: b.name,
        name: s.name,
        address: s.address,
        port: s.nodePort,
        key: `${s.namespace}/${s.service}`,
        cluster: s.cluster,
        node: s.node,
      });
    servers.set(b.name, m);
  }
  // A user template may say anything about its servers: only a reload applies it faithfully.
  return { text, structure: template === undefined ? structureOf(text) : text, servers, warnings: model.warnings };
}

export function serverCount(d: Desired): Map<string, number> {
  return new Map([...d.servers].map(([b, m]) => [b, m.size]));
}
