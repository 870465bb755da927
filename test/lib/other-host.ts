// Shared by the exposure tests (test/hostile/exposure.test.ts, status-detail.test.ts): "another
// host" is a second address of this machine used as the connection's source, so the agent sees a
// peer that is neither loopback nor its own listening address. Loopback-only machines have none.
import { request } from 'node:http';
import { networkInterfaces } from 'node:os';

/** A non-loopback IPv4 address of this machine, if it has one. */
function otherAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}
export const OTHER = otherAddress();

/** GET path from 127.0.0.1:port, the connection's source being `from` (default loopback). */
export function get(port: number, path: string, from?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, localAddress: from, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.setTimeout(20_000, () => req.destroy(new Error('no answer in 20s')));
    req.end();
  });
}

/** The parts of /status that depend on --status-detail and on who asks. */
export interface Status {
  services?: Array<{ key: string }>;
  dedicatedAgentPorts?: Record<string, string>;
  serviceCount?: number;
  detail?: string;
  node: { reply: string };
}
