// /status's `peers`: who probes and whether each has the node's current answer. Built from
// receipts.ts on each request; without detail, keys (Service names) are replaced by counts.
import type { Receipts } from '../agent/receipts.js';

export function peersStatus(receipts: Receipts, detail: boolean): Record<string, unknown> {
  const v = receipts.view();
  return {
    nodeAnswerGroup: v.group,
    current: v.currentPeers,
    seen: v.peers.length,
    silent: v.peers.filter((p) => p.keys.some((k) => k.silent)).length,
    dropped: receipts.dropped,
    list: v.peers.map((p) =>
      detail
        ? p
        : {
            peer: p.peer,
            current: p.current,
            keys: p.keys.length,
            silentKeys: p.keys.filter((k) => k.silent).length,
            ...(p.neverSeen ? { neverSeen: true } : {}),
          },
    ),
  };
}
