// Reading a rendered configuration back, for any template's output: its server lines (render
// --diff: how much a render moves; the removal guard: what a file held before), and its structure
// (everything but servers and comments: when that changes, sync must reload). Pure.

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

/** Servers per backend (or listen) section: what the removal guard compares. */
export function serverCounts(config: string): Map<string, number> {
  const out = new Map<string, number>();
  let section = '';
  for (const raw of config.split('\n')) {
    const words = raw
      .replace(/\s+#.*$/, '')
      .trim()
      .split(/\s+/);
    const first = words[0] as string;
    if (first === '' || first.startsWith('#')) continue;
    if (SECTIONS.has(first)) {
      section = first === 'backend' || first === 'listen' ? (words[1] ?? '') : '';
      if (section !== '' && !out.has(section)) out.set(section, 0);
    } else if (first === 'server' && section !== '') out.set(section, (out.get(section) ?? 0) + 1);
  }
  return out;
}

/**
 * The configuration without its server lines and comments: two texts with the same structure
 * differ only in servers, which the runtime API can change without a reload.
 */
export function structureOf(config: string): string {
  return config
    .split('\n')
    .filter((l) => {
      const t = l.trim();
      return !t.startsWith('#') && !/^server\s/.test(t);
    })
    .join('\n');
}
