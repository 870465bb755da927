// HAProxy's own view of its servers, read from the admin stats socket: `show stat` → CSV → typed rows.
import { createConnection } from 'node:net';
import { parseCsvLine } from '../../haproxy/show-stat.js';

/** One server row of `show stat`: the columns our tests and the demo read, plus all of them raw. */
export interface ServerStat {
  backend: string;
  server: string;
  /** e.g. "UP", "DRAIN (agent)", "DOWN (agent)", "MAINT", "no check". */
  status: string;
  /** Current effective weight (the agent's N% of the configured weight; unchanged by DRAIN). */
  weight: number;
  /** What HAProxy understood from the last agent reply, e.g. "via agent : up" ("" after a bare drain). */
  lastAgent: string;
  /** L7OK (answered, state changed), CHECKED (answered, nothing to change), L4CON (refused), ... */
  agentStatus: string;
  /** Sessions open on the server right now. */
  sessions: number;
  /** Sessions ever sent to the server. */
  totalSessions: number;
  raw: Readonly<Record<string, string>>;
}

/** `type` column value for server rows (0 frontend, 1 backend, 2 server, 3 listener). */
const SERVER_ROW = '2';

/** Sends one command on a fresh connection (HAProxy's non-interactive mode answers, then closes). */
export function statsCommand(socketPath: string, command: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ path: socketPath });
    const chunks: Buffer[] = [];
    const timer = setTimeout(
      () => sock.destroy(new Error(`stats socket ${socketPath}: no answer to "${command}" within ${timeoutMs}ms`)),
      timeoutMs,
    );
    sock.on('connect', () => sock.write(`${command}\n`));
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('close', (hadError) => {
      clearTimeout(timer);
      if (!hadError) resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

export async function readServerStats(socketPath: string): Promise<ServerStat[]> {
  return serverRows(parseShowStat(await statsCommand(socketPath, 'show stat')));
}

/** `show stat` CSV → one record per row, keyed by the header's column names. */
export function parseShowStat(csv: string): Array<Record<string, string>> {
  const lines = csv.split('\n');
  const header = lines[0];
  if (header === undefined || !header.startsWith('# '))
    throw new Error(`not "show stat" output: ${JSON.stringify(csv.slice(0, 80))}`);
  const columns = parseCsvLine(header.slice(2));
  const rows: Array<Record<string, string>> = [];
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const fields = parseCsvLine(line);
    const row: Record<string, string> = {};
    columns.forEach((c, i) => {
      if (c !== '') row[c] = fields[i] ?? '';
    });
    rows.push(row);
  }
  return rows;
}

export function serverRows(rows: Array<Record<string, string>>): ServerStat[] {
  return rows
    .filter((r) => r.type === SERVER_ROW)
    .map((r) => ({
      backend: r.pxname ?? '',
      server: r.svname ?? '',
      status: r.status ?? '',
      weight: Number(r.weight ?? 'NaN'),
      lastAgent: r.last_agt ?? '',
      agentStatus: r.agent_status ?? '',
      sessions: Number(r.scur ?? 'NaN'),
      totalSessions: Number(r.stot ?? 'NaN'),
      raw: r,
    }));
}

/** One home for the CSV field rules: src/haproxy/show-stat.ts. */
export { parseCsvLine };
