// `show servers state` output, which is also the format of `server-state-file`: a version line
// (`1`), a `# be_id be_name srv_id srv_name srv_addr ...` header, one space-separated line per
// server. Columns are found by the header's names. The state file wins over the config for a
// server's address and port on reload, so a changed port is written into the file before reloading.

export interface ServerStateRow {
  backend: string;
  server: string;
  /** srv_addr: bare, IPv6 included ("::1"); "-" for a server with no address yet. */
  address: string;
  port: number;
  /** srv_op_state: 0 stopped, 1 starting, 2 running, 3 stopping. */
  opState: number;
  /** srv_admin_state bits: 0x01 forced MAINT, 0x02 inherited MAINT, 0x08 forced DRAIN (the agent's too), … */
  adminState: number;
  /** Every column, as written. */
  fields: string[];
}

/** The columns this module reads: missing ones are an error up front, not a row of blanks. */
const COLUMNS = ['be_name', 'srv_name', 'srv_addr', 'srv_port', 'srv_op_state', 'srv_admin_state'] as const;

export const ADMIN_FORCED_MAINT = 0x01;
export const ADMIN_FORCED_DRAIN = 0x08;

/** Throws on text without the version line or the header. */
export function parseServersState(text: string): { header: string[]; rows: ServerStateRow[] } {
  const { header, col } = readHeader(text);
  const index = new Map(COLUMNS.map((c) => [c, col(c)]));
  const rows: ServerStateRow[] = [];
  for (const line of text.split('\n')) {
    if (!isRow(line)) continue;
    const fields = line.trim().split(/\s+/);
    const at = (name: (typeof COLUMNS)[number]): string => fields[index.get(name) ?? -1] ?? '';
    rows.push({
      backend: at('be_name'),
      server: at('srv_name'),
      address: at('srv_addr'),
      port: Number(at('srv_port')),
      opState: Number(at('srv_op_state')),
      adminState: Number(at('srv_admin_state')),
      fields,
    });
  }
  return { header, rows };
}

/**
 * The same text with each server line passed through `change`: an address and port rewrite those
 * two columns, 'drop' removes the line, undefined keeps it as it was. Other lines are kept.
 */
export function rewriteServersState(
  text: string,
  change: (backend: string, server: string) => { address: string; port: number } | 'drop' | undefined,
): string {
  const { col } = readHeader(text);
  const [be, srv, addr, port] = ['be_name', 'srv_name', 'srv_addr', 'srv_port'].map(col) as [
    number,
    number,
    number,
    number,
  ];
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (!isRow(line)) {
      out.push(line);
      continue;
    }
    const fields = line.trim().split(/\s+/);
    const c = change(fields[be] ?? '', fields[srv] ?? '');
    if (c === 'drop') continue;
    if (c !== undefined) {
      if (/\s/.test(c.address) || c.address === '') throw new Error(`bad address ${JSON.stringify(c.address)}`);
      if (!Number.isInteger(c.port) || c.port < 0 || c.port > 65_535) throw new Error(`bad port ${c.port}`);
      fields[addr] = c.address;
      fields[port] = String(c.port);
    }
    out.push(fields.join(' '));
  }
  return out.join('\n');
}

function isRow(line: string): boolean {
  return /^\d+ \S/.test(line);
}

function readHeader(text: string): { header: string[]; col: (name: string) => number } {
  const lines = text.split('\n');
  if (lines[0]?.trim() !== '1')
    throw new Error(`not "show servers state" output (version line): ${JSON.stringify(text.slice(0, 80))}`);
  const h = lines[1];
  if (h === undefined || !h.startsWith('# ')) throw new Error('"show servers state": no "# be_id ..." header');
  const header = h.slice(2).trim().split(/\s+/);
  const col = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`"show servers state": no ${name} column`);
    return i;
  };
  return { header, col };
}
