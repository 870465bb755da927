// /drained: the answer for maintenance tools. 200 once the node answers drain, maint or down and
// every load balancer known to have probed (and every --expected-peers address) has received such
// an answer for every key it asks about; 503 with what is pending otherwise. `/drained?for=ready`
// is the same proof for the way back: the node answers ready and every load balancer has heard the
// answer each key has now. A silent load balancer still holds what it was last told, so it stays
// pending; so does one whose connections were refused or whose receipts could not be recorded.
// Built from receipts.ts on each request.
import type { DeliveryView, PeerReceipt } from '../agent/receipts.js';
import type { DrainedAnswer } from '../../platform/http/ops-server.js';

/** What the proof is about: the drain (the node is out) or the way back (the node is in). */
export type DeliveryWant = 'drain' | 'ready';

const NOT_IN: Record<DeliveryWant, string> = {
  drain: 'node is not draining: its answer is not drain, maint or down',
  ready: 'node is not ready: its answer is not ready',
};

/**
 * `answer` is the node's reply text; `now` is the receipts clock. Without `detail` keys (Service
 * names) are replaced by counts, like /status's per-Service part.
 */
export function drainedAnswer(
  v: DeliveryView,
  answer: string,
  now: number,
  detail: boolean,
  want: DeliveryWant = 'drain',
): DrainedAnswer {
  const agoMs = Math.max(0, now - v.sinceMs);
  const flag = (b: boolean) => (want === 'drain' ? { drained: b } : { ready: b });
  const base = {
    ...(want === 'ready' ? { for: 'ready' } : {}),
    answer: answer === '' ? null : answer,
    since: new Date(Date.now() - agoMs).toISOString(),
    sinceSecondsAgo: Math.round(agoMs) / 1000,
    peers: v.peers.length,
  };
  if (v.group !== (want === 'drain' ? 'out' : 'in')) {
    return { status: 503, body: { ...flag(false), reason: NOT_IN[want], ...base, pending: [] } };
  }
  if (v.allCurrent) {
    return {
      status: 200,
      body: {
        ...flag(true),
        reason:
          v.peers.length === 0
            ? 'no load balancer has probed since the agent started'
            : 'every load balancer probing has received it',
        ...base,
      },
    };
  }
  const pendingPeers = v.peers.filter((p) => !p.current);
  const pending = pendingPeers.map((p) => pendingPeer(p, detail));
  return {
    status: 503,
    body: {
      ...flag(false),
      reason: reasonFor(v, pendingPeers),
      ...base,
      pending,
      ...(v.unrecorded === null
        ? {}
        : { unrecordedSources: { count: v.unrecorded.count, lastSecondsAgo: v.unrecorded.agoMs / 1000 } }),
    },
  };
}

function pendingPeer(p: PeerReceipt, detail: boolean): Record<string, unknown> {
  const keys = p.keys
    .filter((k) => !k.current)
    .map((k) => ({
      key: k.key === '' ? '(node)' : k.key,
      lastReply: k.reply,
      lastProbeSecondsAgo: k.agoMs / 1000,
      ...(k.silent ? { silent: true } : {}),
    }));
  const silent = keys.filter((k) => k.silent === true).length;
  return {
    peer: p.peer,
    ...(detail ? { keys } : { pendingKeys: keys.length }),
    ...(silent === 0 ? {} : { silentKeys: silent }),
    ...(p.neverSeen ? { neverSeen: true } : {}),
    ...(p.refused === undefined
      ? {}
      : { refused: { connections: p.refused.count, lastSecondsAgo: p.refused.agoMs / 1000 } }),
    ...(p.unrecorded === undefined
      ? {}
      : { unrecorded: { probes: p.unrecorded.count, lastSecondsAgo: p.unrecorded.agoMs / 1000 } }),
  };
}

/** One line: how many wait, and why for the cases an operator must act on. */
function reasonFor(v: DeliveryView, pending: PeerReceipt[]): string {
  const parts = [`waiting for ${pending.length} of ${v.peers.length} load balancer(s) to receive it`];
  const silent = pending.filter((p) => p.keys.some((k) => !k.current && k.silent)).length;
  if (silent > 0)
    parts.push(
      `${silent} silent: a load balancer that stopped probing keeps what it was last told ` +
        '(if it is gone for good, see --forget-silent-peers-after)',
    );
  const never = pending.filter((p) => p.neverSeen).length;
  if (never > 0) parts.push(`${never} in --expected-peers never probed`);
  const refused = pending.filter((p) => p.refused !== undefined).length;
  if (refused > 0) parts.push(`${refused} had connections refused (connection limits)`);
  if (pending.some((p) => p.unrecorded !== undefined) || v.unrecorded !== null)
    parts.push('receipts not recorded (table full): unknown is not delivered');
  return parts.join('; ');
}
