// What the probe path counts: plain numbers (one increment per probe, no label hashing) that
// run/metrics.ts reads at scrape time.
import type { ReplyKind } from '../../core/decide.js';

export const REJECT_REASONS = [
  'malformed',
  'too_long',
  'unknown_service',
  'over_capacity',
  'over_capacity_source',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];
export const REPLY_KINDS: readonly ReplyKind[] = ['ready', 'drain', 'maint', 'down', 'none'];

/** Incremented on the probe path; read by the collectors below. */
export class ProbeCounters {
  readonly replies: Record<ReplyKind, number> = { ready: 0, drain: 0, maint: 0, down: 0, none: 0 };
  readonly rejections: Record<RejectReason, number> = {
    malformed: 0,
    too_long: 0,
    unknown_service: 0,
    over_capacity: 0,
    over_capacity_source: 0,
  };
  open = 0;
}
