// Leader election on a coordination.k8s.io/v1 Lease, the protocol client-go's leaderelection uses,
// over our own transport: get, create when absent, update with the read resourceVersion (a 409
// means someone else wrote first). Expiry is judged by OUR clock from when we last saw the lease
// change, never by comparing the holder's timestamps with our clock (no clock-skew trust).
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
  private lastRenewed = 0;
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
  ) {}

  get isLeader(): boolean {
    return this.leader;
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
    try {
      ok = await this.tryAcquireOrRenew();
    } catch (err) {
      if (!(err instanceof ApiError && err.statusCode === 409)) this.events.failed(err);
      ok = false;
    }
    this.lastRoundOk = ok;
    if (this.stopped) return;
    if (ok) {
      this.lastRenewed = this.now();
      if (!this.leader) {
        this.leader = true;
        this.events.elected();
      }
      return;
    }
    // A leader that cannot renew steps down before its lease can expire for the others (2/3 of
    // it), so two leaders never act at once for long.
    if (this.leader && this.now() - this.lastRenewed >= (this.timing.leaseDurationMs * 2) / 3) {
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
    return true;
  }
}
