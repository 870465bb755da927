// Server-level comparison of two rendered configurations, for `--diff`: an operator wants to know
// how much a render moves before reloading HAProxy. Pure; reads any template's output.

export interface ServerDiff {
  added: number;
  removed: number;
  /** Same backend and server name, different address or options. */
  changed: number;
  unchanged: number;
}

const SECTIONS = new Set([
  'global',
  'defaults',
  'frontend',
  'backend',
  'listen',
  'resolvers',
  'peers',
  'userlist',
  'mailers',
  'program',
  'http-errors',
  'ring',
  'cache',
  'fcgi-app',
]);

/** `server` lines keyed by "section name" + server name, valued by the rest of the line. */
export function serverLines(config: string): Map<string, string> {
  const out = new Map<string, string>();
  let section = '';
  for (const raw of config.split('\n')) {
    const line = raw.replace(/\s+#.*$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const words = line.split(/\s+/);
    const first = words[0] as string;
    if (SECTIONS.has(first)) {
      section = `${first} ${words[1] ?? ''}`;
      continue;
    }
    if (first === 'server' && words.length >= 3 && (section.startsWith('backend ') || section.startsWith('listen '))) {
      out.set(`${section}\0${words[1] as string}`, words.slice(2).join(' '));
    }
  }
  return out;
}

export function diffServers(previous: string, next: string): ServerDiff {
  const before = serverLines(previous);
  const after = serverLines(next);
  const d: ServerDiff = { added: 0, removed: 0, changed: 0, unchanged: 0 };
  for (const [key, rest] of after) {
    const old = before.get(key);
    if (old === undefined) d.added++;
    else if (old === rest) d.unchanged++;
    else d.changed++;
  }
  for (const key of before.keys()) if (!after.has(key)) d.removed++;
  return d;
}

export function formatDiff(d: ServerDiff): string {
  return `servers: ${d.added} added, ${d.removed} removed, ${d.changed} changed, ${d.unchanged} unchanged`;
}
