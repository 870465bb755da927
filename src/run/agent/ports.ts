// Dedicated agent ports: a Service annotated PREFIX/agent-port gets its own listener that answers
// for it alone, for edges that cannot use agent-send. A port belongs to its oldest claimant
// (requests arrive oldest first, see core/port-claims.ts), so every node and every restart agree; clashes,
// reserved ports and namespaces outside --agent-port-namespaces are refused, logged once and counted.
import { AgentServer, type AnswerSource } from './server.js';
import type { ProbeCounters } from './probe-counters.js';
import { namespaceMayClaim } from '../../core/port-claims.js';
import type { Receipts } from './receipts.js';
import type { ConnectionBudget } from './budget.js';
import { errorMessage } from '../../core/error-message.js';

export type PortRefusal = 'clash' | 'reserved' | 'namespace' | 'listen_failed';

export interface PortEvents {
  opened(port: number, key: string): void;
  closed(port: number, key: string): void;
  refused(port: number, key: string, reason: PortRefusal, detail: string): void;
}

interface Listener {
  key: string;
  server: AgentServer;
  open: boolean;
}

export class DedicatedPorts {
  private readonly listeners = new Map<number, Listener>();
  /** "port key reason" already reported, so a refusal is logged once, not on every reconcile. */
  private reported = new Set<string>();

  constructor(
    private readonly opts: {
      host: string;
      readTimeoutMs: number;
      maxConnections: number;
      /** The agent's one connection budget, shared with the agent port (not one cap per listener). */
      budget?: ConnectionBudget;
      reserved: ReadonlySet<number>;
      allowedNamespaces?: ReadonlySet<string>;
    },
    private readonly answers: AnswerSource,
    private readonly counters: ProbeCounters,
    private readonly events: PortEvents,
    private readonly receipts?: Receipts,
  ) {}

  get openPorts(): Array<[number, string]> {
    return [...this.listeners].filter(([, l]) => l.open).map(([p, l]) => [p, l.key]);
  }

  /** Bring listeners in line with the requests ([port, service key], oldest claimant first). */
  reconcile(requests: ReadonlyArray<[number, string]>): void {
    const wanted = new Map<number, string>();
    const reported = new Set<string>();
    const refuse = (port: number, key: string, reason: PortRefusal, detail: string): void => {
      const id = `${port} ${key} ${reason}`;
      reported.add(id);
      if (!this.reported.has(id)) this.events.refused(port, key, reason, detail);
    };
    const stillRequested = new Set(requests.map(([p, k]) => `${p} ${k}`));
    for (const [port, key] of requests) {
      if (this.opts.reserved.has(port)) {
        refuse(port, key, 'reserved', 'the agent or HTTP port');
        continue;
      }
      if (!namespaceMayClaim(this.opts.allowedNamespaces, key)) {
        refuse(port, key, 'namespace', 'namespace not in --agent-port-namespaces');
        continue;
      }
      // Not "whoever holds it now": that would differ between nodes that restarted and nodes that did not.
      const owner = wanted.get(port);
      if (owner !== undefined) {
        refuse(port, key, 'clash', `already serves ${owner}, an older Service`);
        continue;
      }
      wanted.set(port, key);
    }
    for (const [port, l] of this.listeners) {
      if (wanted.get(port) === l.key) continue;
      this.listeners.delete(port);
      void l.server.close();
      if (l.open) this.events.closed(port, l.key);
    }
    for (const [port, key] of wanted) {
      if (this.listeners.has(port)) continue;
      const server = new AgentServer(
        {
          host: this.opts.host,
          port,
          readTimeoutMs: this.opts.readTimeoutMs,
          maxConnections: this.opts.maxConnections,
          budget: this.opts.budget,
          fixedServiceKey: key,
        },
        this.answers,
        this.counters,
        this.receipts,
      );
      const l: Listener = { key, server, open: false };
      this.listeners.set(port, l);
      server.listen().then(
        () => {
          if (this.listeners.get(port) !== l) return void server.close();
          l.open = true;
          this.events.opened(port, key);
        },
        (err: unknown) => {
          if (this.listeners.get(port) === l) this.listeners.delete(port);
          const id = `${port} ${key} listen_failed`;
          this.reported.add(id);
          this.events.refused(port, key, 'listen_failed', errorMessage(err));
        },
      );
    }
    // Keep listen failures reported until the request goes away.
    for (const id of this.reported)
      if (id.endsWith('listen_failed') && stillRequested.has(id.split(' ').slice(0, 2).join(' '))) reported.add(id);
    this.reported = reported;
  }

  async closeAll(): Promise<void> {
    const all = [...this.listeners.values()];
    this.listeners.clear();
    await Promise.all(all.map((l) => l.server.close()));
  }
}
