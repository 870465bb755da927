// Layers point one way: each folder of src/ may import only the folders CONTRIBUTING.md's table
// names for it, no two files import each other (type imports included), and the daemon's import
// closure holds no demo or harness code. A new upward or sideways edge fails here, not in review.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const SRC = join(ROOT, 'src');

/** Top-level folder → the top-level folders its files may import ('main.ts' is the CLI entry). */
const SHARED = ['core', 'platform', 'kube', 'haproxy'];
const MAY_IMPORT: Record<string, string[]> = {
  core: [],
  platform: ['core'],
  haproxy: ['core'],
  kube: ['core', 'platform'],
  // The edge model (subsets, routes, the config text) that render writes once and sync keeps running.
  edge: ['core', 'platform', 'kube', 'haproxy'],
  testkit: SHARED,
  run: SHARED,
  coordinate: SHARED,
  render: [...SHARED, 'edge'],
  sync: [...SHARED, 'edge'],
  'wait-drained': SHARED,
  // The demo runs the real daemon against the harness's fake cluster.
  demo: [...SHARED, 'run', 'testkit'],
  'main.ts': ['platform', 'run', 'coordinate', 'render', 'sync', 'wait-drained', 'demo'],
};

interface Edge {
  from: string;
  to: string;
}

/** Every .ts file of src/, as /-separated paths relative to src/. */
function files(): string[] {
  return readdirSync(SRC, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.split(sep).join('/'))
    .sort();
}

/** Relative imports of one file: static, type-only, re-exports and import(). */
function importsOf(file: string): string[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom|\bimport\(|^import)\s*'(\.{1,2}\/[^']+)'/gm)) {
    const target = relative(SRC, resolve(dirname(join(SRC, file)), m[1]!))
      .split(sep)
      .join('/');
    out.push(target.replace(/\.js$/, '.ts'));
  }
  return out;
}

const ALL = files();
const EDGES: Edge[] = ALL.flatMap((from) => importsOf(from).map((to) => ({ from, to })));
const top = (f: string): string => (f.includes('/') ? f.split('/')[0]! : f);
const folder = (f: string): string => (f.includes('/') ? f.slice(0, f.lastIndexOf('/')) : '.');

/** Strongly connected components with more than one member (or a self-loop): Tarjan's algorithm. */
function cycles(nodes: string[], edges: Edge[]): string[][] {
  const out = new Map<string, string[]>();
  for (const e of edges) out.set(e.from, [...(out.get(e.from) ?? []), e.to]);
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of out.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (out.get(v) ?? []).includes(v)) found.push(scc.sort());
    }
  };
  for (const n of nodes) if (!idx.has(n)) visit(n);
  return found;
}

t.test('the scan sees the tree', async (t) => {
  t.ok(ALL.includes('main.ts') && ALL.includes('run/daemon.ts'), 'src/ files are listed');
  t.ok(
    EDGES.some((e) => e.from === 'run/daemon.ts' && e.to === 'core/agent-state.ts'),
    'imports are read (daemon → core/agent-state)',
  );
  t.ok(
    EDGES.some((e) => e.from === 'main.ts' && e.to === 'run/daemon.ts'),
    'import() is read (main → run/daemon)',
  );
  t.ok(
    EDGES.every((e) => ALL.includes(e.to)),
    `every import names a file of src/ (${EDGES.filter((e) => !ALL.includes(e.to)).map((e) => e.to)})`,
  );
  t.same(
    cycles(
      ['a', 'b', 'c'],
      [
        { from: 'a', to: 'b' },
        { from: 'b', to: 'a' },
        { from: 'b', to: 'c' },
      ],
    ),
    [['a', 'b']],
  );
});

t.test('every top-level folder of src/ has a row in the matrix, and imports only what its row allows', async (t) => {
  const tops = [...new Set(ALL.map(top))].sort();
  t.same(tops, Object.keys(MAY_IMPORT).sort(), 'the matrix names exactly the folders of src/');
  const bad = EDGES.filter((e) => top(e.from) !== top(e.to) && !(MAY_IMPORT[top(e.from)] ?? []).includes(top(e.to)));
  t.same(
    bad.map((e) => `${e.from} → ${e.to}`),
    [],
    'no import outside the matrix',
  );
});

t.test('inside a folder, a subfolder never imports its parent (layers point down)', async (t) => {
  const up = EDGES.filter((e) => {
    const a = folder(e.from);
    const b = folder(e.to);
    return a !== b && a.startsWith(`${b}/`);
  });
  t.same(
    up.map((e) => `${e.from} → ${e.to}`),
    [],
  );
});

t.test('no cycle between folders, nor between files (type imports included)', async (t) => {
  const folders = [...new Set(ALL.map(folder))];
  const folderEdges = EDGES.map((e) => ({ from: folder(e.from), to: folder(e.to) })).filter((e) => e.from !== e.to);
  t.same(cycles(folders, folderEdges), [], 'folders');
  t.same(cycles(ALL, EDGES), [], 'files');
});

t.test("the daemon's import closure holds no demo or harness code", async (t) => {
  const seen = new Set<string>();
  const walk = (f: string): void => {
    if (seen.has(f)) return;
    seen.add(f);
    for (const e of EDGES) if (e.from === f) walk(e.to);
  };
  walk('run/daemon.ts');
  t.ok(seen.size > 20, `the closure was walked (${seen.size} files)`);
  t.same(
    [...seen].filter((f) => top(f) === 'demo' || top(f) === 'testkit'),
    [],
  );
});

t.test("CONTRIBUTING.md's layer table is this matrix", async (t) => {
  const doc = readFileSync(join(ROOT, 'CONTRIBUTING.md'), 'utf8');
  const rows = new Map<string, string[]>();
  for (const m of doc.matchAll(/^\| `src\/([^`]+?)\/?` \| ([^|]*) \|/gm)) {
    const may = [...m[2]!.matchAll(/`([^`]+?)\/?`/g)].map((x) => x[1]!.replace(/^src\//, ''));
    rows.set(m[1]!, may.sort());
  }
  const want = Object.fromEntries(Object.entries(MAY_IMPORT).map(([k, v]) => [k, [...v].sort()]));
  t.same(Object.fromEntries(rows), want, 'one row per folder, naming what it may import');
});
