// `show stat` CSV → typed rows, indexed by the header line (`# pxname,svname,...`), so a column
// HAProxy adds, drops or moves in another version does not shift the others.

/** Row kinds, from the `type` column (0 frontend, 1 backend, 2 server, 3 listener). */
export type StatKind = 'frontend' | 'backend' | 'server' | 'listener';

export interface StatRow {
  kind: StatKind;
  /** pxname: the frontend or backend. */
  proxy: string;
  /** svname: the server, or FRONTEND / BACKEND. */
  server: string;
  /** e.g. "UP", "DRAIN (agent)", "DOWN (agent)", "MAINT", "no check". */
  status: string;
  /** Current effective weight (NaN when the column is empty, as on frontends). */
  weight: number;
  /** Sessions open now. */
  scur: number;
  /** check_status, e.g. "L4OK", "L4CON", "" without checks. */
  checkStatus: string;
  /** agent_status, e.g. "L7OK", "CHECKED", "L4CON". */
  agentStatus: string;
  /** last_agt: what HAProxy understood from the last agent reply ("via agent : up"). */
  lastAgent: string;
  /** addr: "127.0.0.1:8080" or "[::1]:8080" on server rows, "" elsewhere. */
  address: string;
  /** Every column by its header name. */
  raw: Readonly<Record<string, string>>;
}

const KINDS: Record<string, StatKind> = { '0': 'frontend', '1': 'backend', '2': 'server', '3': 'listener' };

/** The server rows of `show stat` (use parseShowStatRows for frontends and backends too). */
export function parseShowStat(csv: string): StatRow[] {
  return parseShowStatRows(csv).filter((r) => r.kind === 'server');
}

/** Every row of `show stat`, each with its kind. Throws on text that is not `show stat` output. */
export function parseShowStatRows(csv: string): StatRow[] {
  const lines = csv.split('\n');
  const header = lines[0];
  if (header === undefined || !header.startsWith('# '))
    throw new Error(`not "show stat" output: ${JSON.stringify(csv.slice(0, 80))}`);
  const columns = parseCsvLine(header.slice(2));
  const rows: StatRow[] = [];
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const fields = parseCsvLine(line);
    const r: Record<string, string> = {};
    columns.forEach((c, i) => {
      if (c !== '') r[c] = fields[i] ?? '';
    });
    rows.push({
      kind: kindOf(r),
      proxy: r.pxname ?? '',
      server: r.svname ?? '',
      status: r.status ?? '',
      weight: num(r.weight),
      scur: num(r.scur),
      checkStatus: r.check_status ?? '',
      agentStatus: r.agent_status ?? '',
      lastAgent: r.last_agt ?? '',
      address: r.addr ?? '',
      raw: r,
    });
  }
  return rows;
}

function kindOf(r: Record<string, string>): StatKind {
  const k = KINDS[r.type ?? ''];
  if (k !== undefined) return k;
  // Without a `type` column, the names HAProxy gives the aggregate rows.
  return r.svname === 'FRONTEND' ? 'frontend' : r.svname === 'BACKEND' ? 'backend' : 'server';
}

function num(s: string | undefined): number {
  return s === undefined || s === '' ? Number.NaN : Number(s);
}

/** RFC 4180-style fields: HAProxy quotes free-text columns (check descriptions) when they need it. */
export function parseCsvLine(line: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i] as string;
    if (quoted) {
      if (ch !== '"') field += ch;
      else if (line[i + 1] === '"') {
        field += '"';
        i++;
      } else quoted = false;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(field);
      field = '';
    } else field += ch;
  }
  out.push(field);
  return out;
}
