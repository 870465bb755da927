// /drained: the answer for maintenance tools. 200 once the node answers drain, maint or down and
// every load balancer still probing has received such an answer for every key it asks about since
// the node went out; 503 with what is pending otherwise. Built from receipts.ts on each request.
import type { DeliveryView } from '../agent/receipts.js';
import type { DrainedAnswer } from '../../platform/http/ops-server.js';

/**
 * `answer` is the node's reply text; `now` is the receipts clock. Without `detail` keys (Service
 * names) are replaced by counts, like /status's per-Service part.
 */
export function drainedAnswer(v: DeliveryView, answer: string, now: number, detail: boolean): DrainedAnswer {
  const agoMs = Math.max(0, now - v.sinceMs);
  const base = {
    answer: answer === '' ? null : answer,
    since: new Date(Date.now() - agoMs).toISOString(),
    sinceSecondsAgo: Math.round(agoMs) / 1000,
    peers: v.peers.length,
  };
  if (v.group !== 'out') {
    return {
      status: 503,
      body: {
        drained: false,
        reason: 'node is not draining: its answer is not drain, maint or down',
        ...base,
        pending: [],
      },
    };
  }
  if (v.delivered) {
    return {
      status: 200,
      body: {
        drained: true,
        reason:
          v.peers.length === 0
            ? 'no load balancer has probed within its window'
            : 'every load balancer probing has received it',
        ...base,
      },
    };
  }
  const pending = v.peers
    .filter((p) => !p.current)
    .map((p) => {
      const keys = p.keys
        .filter((k) => !k.current)
        .map((k) => ({
          key: k.key === '' ? '(node)' : k.key,
          lastReply: k.reply,
          lastProbeSecondsAgo: k.agoMs / 1000,
        }));
      return detail ? { peer: p.peer, keys } : { peer: p.peer, pendingKeys: keys.length };
    });
  return {
    status: 503,
    body: {
      drained: false,
      reason: `waiting for ${pending.length} of ${v.peers.length} load balancer(s) to receive it`,
      ...base,
      pending,
    },
  };
}
