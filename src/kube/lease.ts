// Leader election on a coordination.k8s.io/v1 Lease, the protocol client-go's leaderelection uses,
// over our own transport: get, create when absent, update with the read resourceVersion (a 409
// means someone else wrote first). Expiry is judged by OUR clock from when we last saw the lease
// change, never by comparing the holder's timestamps with our clock (no clock-skew trust).
// Whether we may still act as leader is judged by the monotonic clock from when our last successful
// renewal was sent: a process frozen past that (SIGSTOP, a stalled VM) must not write on waking,
// before its next round has even noticed that another replica took over.
import { performance } from 'node:perf_hooks';
import { ApiError, type ApiTransport } from './transport.js';

export interface LeaseTiming {
  /** A holder that has not renewed for this long has lost the lease. */
  leaseDurationMs: number;
  /** The leader renews this often. */
  renewMs: number;
  /** A follower tries to take over this often. */
  retryMs: number;
}

export const DEFAULT_LEASE_TIMING: LeaseTiming = { leaseDurationMs: 15_000, renewMs: 5_000, retryMs: 2_000 };

export interface LeaseEvents {
  /** We now hold the lease. */
  elected(): void;
  /** We no longer hold it (renewals failed past the deadline, or someone else holds it). */
  deposed(reason: string): void;
  /** A round failed on an API error (not a lost race); logged by the caller. */
  failed(err: unknown): void;
}

/** What a leader stamps on what it writes: who held the lease, and its leaseTransitions then. */
export interface LeaseFence {
  holder: string;
  transitions: number;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface LeaseObject {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: LeaseSpec;
}

/** MicroTime, as the Lease API formats it. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '000Z');
}

export class LeaderElector {
  private leader = false;
  private stopped = true;
  private timer: NodeJS.Timeout | undefined;
  /** Monotonic time (ms) at which our last successful renewal was sent. */
  private renewSentAt = 0;
  /** leaseTransitions of the lease as we last wrote it while holding it. */
  private transitions = 0;
  /** What we last saw another holder write, and when we saw it change (our clock). */
  private observed: { holder: string; renewTime: string; at: number } | undefined;
  private running: Promise<void> | undefined;
  private lastRoundOk = false;

  constructor(
    private readonly transport: ApiTransport,
    private readonly namespace: string,
    private readonly name: string,
    readonly identity: string,
    private readonly timing: LeaseTiming,
    private readonly events: LeaseEvents,
    private readonly now: () => number = Date.now,
    private readonly monotonic: () => number = () => performance.now(),
  ) {}

  get isLeader(): boolean {
    return this.leader;
  }

  /**
   * The fence for a write we are about to make, or undefined when we must not write: not leader,
   * or so long since our last renewal was sent that the lease may have expired for the others.
   * The others count the lease duration from when they saw our renewal, which is after we sent
   * it, so sent + 2/3 of the duration leaves a third of it for the write itself to land.
   */
  fence(): LeaseFence | undefined {
    if (!this.leader || this.stopped || this.monotonic() - this.renewSentAt >= this.safeForMs()) return undefined;
    return { holder: this.identity, transitions: this.transitions };
  }

  private safeForMs(): number {
    return (this.timing.leaseDurationMs * 2) / 3;
  }

  /** The holder we last saw (ourselves when leading), or undefined when nobody holds it. */
  get holder(): string | undefined {
    return this.leader ? this.identity : this.observed?.holder || undefined;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** Stops; a leader releases the lease so a standby takes over at once, not after expiry. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    if (!this.leader) return;
    this.leader = false;
    try {
      const cur = (await this.transport.getJson(this.path())) as LeaseObject;
      if (cur.spec?.holderIdentity !== this.identity) return;
      await this.transport.putJson(this.path(), {
        ...cur,
        spec: { ...cur.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(this.now()) },
      });
    } catch {
      // Best effort: the lease then expires on its own.
    }
  }

  private path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.namespace}/leases/${this.name}`;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.round().finally(() => {
        this.running = undefined;
        // A leader whose renewal failed retries soon, as client-go does, not a full renew period later.
        this.schedule(this.leader && this.lastRoundOk ? this.timing.renewMs : this.timing.retryMs);
      });
    }, ms);
  }

  private async round(): Promise<void> {
    let ok: boolean;
    const sentAt = this.monotonic();
    try {
      ok = await this.tryAcquireOrRenew();
    } catch (err) {
      if (!(err instanceof ApiError && err.statusCode === 409)) this.events.failed(err);
      ok = false;
    }
    this.lastRoundOk = ok;
    if (this.stopped) return;
    if (ok) {
      this.renewSentAt = sentAt;
      if (!this.leader) {
        this.leader = true;
        this.events.elected();
      }
      return;
    }
    // A leader that cannot renew steps down before its lease can expire for the others (2/3 of
    // it), so two leaders never act at once for long; fence() stops its writes at the same bound.
    if (this.leader && this.monotonic() - this.renewSentAt >= this.safeForMs()) {
      this.leader = false;
      this.events.deposed('could not renew the lease in time');
    } else if (
      this.leader &&
      this.observed !== undefined &&
      this.observed.holder !== '' &&
      this.observed.holder !== this.identity
    ) {
      this.leader = false;
      this.events.deposed(`lease now held by ${this.observed.holder}`);
    }
  }

  /** One round: true when we hold the lease afterwards. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.now();
    let cur: LeaseObject;
    try {
      cur = (await this.transport.getJson(this.path())) as LeaseObject;
    } catch (err) {
      if (!(err instanceof ApiError && err.statusCode === 404)) throw err;
      await this.transport.postJson(`/apis/coordination.k8s.io/v1/namespaces/${this.namespace}/leases`, {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.name, namespace: this.namespace },
        spec: {
          holderIdentity: this.identity,
          leaseDurationSeconds: this.timing.leaseDurationMs / 1000,
          acquireTime: microTime(now),
          renewTime: microTime(now),
          leaseTransitions: 0,
        },
      });
      this.observed = { holder: this.identity, renewTime: microTime(now), at: now };
      this.transitions = 0;
      return true;
    }
    const spec: LeaseSpec = typeof cur.spec === 'object' && cur.spec !== null ? cur.spec : {};
    const holder = typeof spec.holderIdentity === 'string' ? spec.holderIdentity : '';
    const renewTime = typeof spec.renewTime === 'string' ? spec.renewTime : '';
    if (this.observed === undefined || this.observed.holder !== holder || this.observed.renewTime !== renewTime) {
      this.observed = { holder, renewTime, at: now };
    }
    const durationMs =
      typeof spec.leaseDurationSeconds === 'number' && spec.leaseDurationSeconds > 0
        ? spec.leaseDurationSeconds * 1000
        : this.timing.leaseDurationMs;
    if (holder !== '' && holder !== this.identity && now - this.observed.at < durationMs) return false;
    const mine = holder === this.identity;
    const next: LeaseSpec = {
      ...spec,
      holderIdentity: this.identity,
      leaseDurationSeconds: this.timing.leaseDurationMs / 1000,
      renewTime: microTime(now),
      ...(mine
        ? {}
        : {
            acquireTime: microTime(now),
            leaseTransitions: (typeof spec.leaseTransitions === 'number' ? spec.leaseTransitions : 0) + 1,
          }),
    };
    await this.transport.putJson(this.path(), { ...cur, spec: next });
    this.observed = { holder: this.identity, renewTime: next.renewTime ?? '', at: now };
    this.transitions = typeof next.leaseTransitions === 'number' ? next.leaseTransitions : 0;
    return true;
  }
}
