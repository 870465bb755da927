// Who is asking: a process on this node (loopback, or a connection whose source is the very address
// it arrived on, as when something on the node calls NODE_IP:9290) or another host.
import { isIPv4 } from 'node:net';

/** True when the peer runs on this node. Undefined addresses (a closed socket) count as remote. */
export function isLocalPeer(remote: string | undefined, local: string | undefined): boolean {
  if (remote === undefined) return false;
  const r = unmap(remote);
  if (r === '::1' || (isIPv4(r) && r.startsWith('127.'))) return true;
  return local !== undefined && r === unmap(local);
}

/** "::ffff:10.0.0.1" (an IPv4 client of a dual-stack listener) → "10.0.0.1". */
function unmap(a: string): string {
  return a.toLowerCase().startsWith('::ffff:') && isIPv4(a.slice(7)) ? a.slice(7) : a;
}
