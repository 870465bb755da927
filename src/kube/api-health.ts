// How the API server is treating us, per resource and overall: ok, or why not (unreachable,
// unauthorized, forbidden, tls, error). Fed by the transport (answers) and the informers
// (failures); read by /status, /readyz, the metrics and one log line per state change.
import { ApiError, EndedEarlyError, HungError } from './transport.js';
import { ListTooLongError } from './list.js';
import { errorMessage } from '../core/error-message.js';

export type ApiState = 'connecting' | 'ok' | 'unreachable' | 'unauthorized' | 'forbidden' | 'tls' | 'error';

export interface ResourceHealth {
  state: ApiState;
  /** When this state began (ms since epoch). */
  since: number;
  lastError: string | null;
  /** The Status message of a 403 (the RBAC reason) or the TLS verification code. */
  detail: string | null;
}

interface Tracked extends ResourceHealth {
  /** Connections cut in a row without an answer (a success or an error Status) in between. */
  drops: number;
}

/** A state change worth one log line. */
export interface Transition {
  resource: string;
  from: ApiState;
  to: ApiState;
  health: ResourceHealth;
}

/** Failures the operator must fix (credentials, RBAC, CA): /readyz turns 503 when they last this long. */
export const CONFIG_FAILURE_READY_BOUND_MS = 60_000;
const CONFIG_FAILURES: ReadonlySet<ApiState> = new Set(['unauthorized', 'forbidden', 'tls']);
/** Worst first: the overall state is the worst of the resources'. */
const SEVERITY: readonly ApiState[] = ['tls', 'unauthorized', 'forbidden', 'unreachable', 'error', 'connecting', 'ok'];

/** The state a failure puts a resource in, and the metric code label it counts under. */
export function classify(err: unknown): { state: ApiState; code: string; detail: string | null } {
  if (err instanceof ApiError) {
    if (err.kind === 'tls') return { state: 'tls', code: 'tls', detail: err.detail || null };
    if (err.kind === 'credentials') return { state: 'unauthorized', code: 'credentials', detail: null };
    if (err instanceof ListTooLongError) return { state: 'error', code: 'list_too_long', detail: null };
    if (err.statusCode === 401) return { state: 'unauthorized', code: '401', detail: err.detail || null };
    if (err.statusCode === 403) return { state: 'forbidden', code: '403', detail: err.detail || null };
    if (err.kind === 'http' && err.statusCode !== undefined)
      return { state: 'error', code: String(err.statusCode), detail: err.detail || null };
  }
  return { state: 'unreachable', code: 'unreachable', detail: null };
}

export class ApiHealth {
  private readonly resources = new Map<string, Tracked>();
  readonly errors = new Map<string, number>(); // "resource\0code" -> count

  constructor(
    resources: readonly string[],
    private readonly onTransition: (t: Transition) => void,
    private readonly now: () => number = Date.now,
  ) {
    const t = now();
    for (const r of resources)
      this.resources.set(r, { state: 'connecting', since: t, lastError: null, detail: null, drops: 0 });
  }

  /** The API server answered a request about this resource. Cheap when nothing changes. */
  ok(resource: string): void {
    const h = this.resources.get(resource);
    if (h === undefined) return;
    h.drops = 0;
    if (h.state !== 'ok') this.set(resource, h, 'ok', null, null);
  }

  /**
   * A request about this resource failed. A 410 is routine (relist), and so is one cut connection
   * (an API server restart, a load balancer's idle timeout): the retry decides. Two in a row are not.
   */
  failed(resource: string, err: unknown): void {
    const h = this.resources.get(resource);
    // Not the API server failing us: a relist or a re-watch (after backoff) follows, counted as a restart.
    if (h === undefined || (err instanceof ApiError && err.statusCode === 410)) return;
    if (err instanceof HungError || err instanceof EndedEarlyError) return;
    // An error Status is an answer too: only cuts with nothing in between count as "in a row".
    if (err instanceof ApiError && err.kind === 'http') h.drops = 0;
    if (err instanceof ApiError && err.kind === 'dropped' && ++h.drops < 2) return;
    const c = classify(err);
    const key = `${resource}\0${c.code}`;
    this.errors.set(key, (this.errors.get(key) ?? 0) + 1);
    const message = errorMessage(err);
    if (h.state === c.state) {
      h.lastError = message;
      h.detail = c.detail;
      return;
    }
    this.set(resource, h, c.state, message, c.detail);
  }

  private set(resource: string, h: Tracked, to: ApiState, lastError: string | null, detail: string | null): void {
    const from = h.state;
    h.state = to;
    h.since = this.now();
    if (lastError !== null) h.lastError = lastError;
    h.detail = detail;
    this.onTransition({
      resource,
      from,
      to,
      health: { state: h.state, since: h.since, lastError: h.lastError, detail: h.detail },
    });
  }

  get(resource: string): ResourceHealth | undefined {
    return this.resources.get(resource);
  }

  entries(): IterableIterator<[string, ResourceHealth]> {
    return this.resources.entries();
  }

  /** The worst resource: its state, since when, and which resource it is. */
  overall(): { state: ApiState; since: number; resource: string | null; health: ResourceHealth | null } {
    let worst: [string, ResourceHealth] | undefined;
    for (const e of this.resources) {
      if (worst === undefined || SEVERITY.indexOf(e[1].state) < SEVERITY.indexOf(worst[1].state)) worst = e;
    }
    if (worst === undefined) return { state: 'ok', since: this.now(), resource: null, health: null };
    return {
      state: worst[1].state,
      since: worst[1].since,
      resource: worst[1].state === 'ok' ? null : worst[0],
      health: worst[1],
    };
  }

  /**
   * Why answers cannot be kept fresh, or null when they can. Never synced is always a reason; a
   * credentials/RBAC/CA failure is one once it has lasted CONFIG_FAILURE_READY_BOUND_MS (a token
   * being rotated may fail for a moment). An unreachable API server is not: every agent would turn
   * unready together, and --max-staleness already covers it.
   */
  notReadyReason(synced: boolean): string | null {
    if (!synced) {
      const o = this.overall();
      return o.state === 'connecting' || o.state === 'ok'
        ? `waiting for the first full list of Nodes, Services and EndpointSlices${
            // Coordinated mode also waits for the decision's first read (configmaps is tracked then).
            this.resources.has('configmaps') ? ' and the coordinator decision' : ''
          }`
        : `never synced: the API server ${describe(o.state)} for ${o.resource}` +
            `${o.health?.lastError ? ` (${o.health.lastError})` : ''}`;
    }
    const t = this.now();
    for (const [resource, h] of this.resources) {
      if (CONFIG_FAILURES.has(h.state) && t - h.since >= CONFIG_FAILURE_READY_BOUND_MS) {
        return (
          `answers cannot be kept fresh: ${resource} ${describe(h.state)} for ${Math.round((t - h.since) / 1000)}s` +
          `${h.lastError ? ` (${h.lastError})` : ''}`
        );
      }
    }
    return null;
  }

  /** The /status block. */
  status(): Record<string, unknown> {
    const o = this.overall();
    const iso = (ms: number): string => new Date(ms).toISOString();
    return {
      state: o.state,
      since: iso(o.since),
      ...(o.resource === null ? {} : { resource: o.resource }),
      lastError: o.health?.lastError ?? null,
      ...(o.health?.detail ? { detail: o.health.detail } : {}),
      resources: Object.fromEntries(
        [...this.resources].map(([r, h]) => [
          r,
          { state: h.state, since: iso(h.since), lastError: h.lastError, ...(h.detail ? { detail: h.detail } : {}) },
        ]),
      ),
    };
  }
}

/** "refuses our credentials", for log lines and /readyz. */
export function describe(state: ApiState): string {
  switch (state) {
    case 'ok':
      return 'answers';
    case 'connecting':
      return 'has not answered yet';
    case 'unreachable':
      return 'cannot be reached';
    case 'unauthorized':
      return 'rejects our credentials (401)';
    case 'forbidden':
      return 'forbids access (403, RBAC)';
    case 'tls':
      return 'fails TLS verification';
    case 'error':
      return 'answers with an error';
  }
}
