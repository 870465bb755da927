// sync's side of the claims record (edge/claims.ts, kube/claims-record.ts): read before each model,
// written when the model records a new claim. Fail static: a record that cannot be read leaves the
// last good one in use; before any was read, nothing is decided at all.
import type { ClaimsDocument, ClaimsRef } from '../core/claims-document.js';
import { emptyClaims } from '../core/claims-document.js';
import { errorMessage } from '../core/error-message.js';
import { type ClaimsToRecord, claimsUpdate } from '../edge/claims.js';
import { loadClaims, recordClaims } from '../kube/claims-record.js';
import type { ApiTransport } from '../kube/transport.js';
import type { Logger } from '../platform/log.js';

export class ClaimsKeeper {
  private last: ClaimsDocument | undefined;
  private lastError: string | undefined;

  constructor(
    private readonly ref: ClaimsRef | undefined,
    private readonly transport: ApiTransport,
    private readonly log: Logger,
  ) {}

  /** The record to decide with; undefined while none was ever read (the caller waits). */
  async load(): Promise<ClaimsDocument | undefined> {
    if (this.ref === undefined) return emptyClaims();
    const s = await loadClaims(this.transport, this.ref);
    if (s.status !== 'unreadable') {
      if (this.lastError !== undefined) this.log.info('the claims record is readable again');
      this.lastError = undefined;
      this.last = s.record;
      return s.record;
    }
    if (this.lastError !== s.error)
      this.log.warn(
        { err: s.error },
        `${s.error}; ` +
          (this.last === undefined ? 'waiting for it (nothing is changed)' : 'the last one read stays in use'),
      );
    this.lastError = s.error;
    return this.last;
  }

  /**
   * Writes what the model resolved, re-resolved against the record as stored (another writer may
   * have been first). Returns the record now stored, or undefined when it was not written.
   */
  async record(claims: ClaimsToRecord, nowIso: string): Promise<ClaimsDocument | undefined> {
    if (this.ref === undefined) return undefined;
    try {
      const r = await recordClaims(this.transport, this.ref, claimsUpdate(claims, nowIso));
      if ('error' in r) {
        this.log.warn({ err: r.error }, `claims record not written: ${r.error}`);
        return undefined;
      }
      this.last = r.record;
      return r.record;
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, `claims record not written: ${errorMessage(err)}`);
      return undefined;
    }
  }
}
