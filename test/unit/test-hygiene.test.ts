// Every process a test starts dies with it (test/lib/spawn.ts: pdeathsig, killed at teardown), even
// when tap kills the file on its timeout. This fails when a test file starts one through
// node:child_process directly, outside a tiny allow-list of bounded one-shot utilities.
// It also fails when a source line is wider than Biome's lineWidth: the formatter cannot break
// string literals or comments, so without this they would creep back one by one.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

const TEST = join(import.meta.dirname, '..');
const ROOT = join(TEST, '..');
/** The folders Biome formats that hold code (biome.jsonc "files.includes"). */
const CODE_DIRS = ['src', 'test', 'bench', 'scripts'];
/** The one file that may start anything: it is where the guarantee is made. */
const SPAWN = 'lib/spawn.ts';
/** What node:child_process offers to start a process. */
const STARTERS = new Set(['spawn', 'exec', 'execFile', 'fork', 'spawnSync', 'execSync', 'execFileSync']);

/**
 * File → the one starter it may import, the programs (first argument, as written) it may run with
 * it, and why those may bypass spawn.ts: each is bounded, works on local files and cannot hang.
 */
const ALLOWED: Record<string, { fn: string; programs: string[]; why: string }> = {
  'integration/image.test.ts': {
    fn: 'execFileSync',
    programs: ["'du'", "'find'", "'rm'", "'cp'", "'chmod'", 'setpriv!'],
    why: 'coreutils on the temp tree; setpriv ... touch',
  },
  'lib/tls-front.ts': { fn: 'execFileSync', programs: ["'openssl'"], why: 'one-shot openssl req/x509, no stdin' },
  'hostile/override.test.ts': { fn: 'execFileSync', programs: ["'mkfifo'"], why: 'makes a FIFO' },
};

/** Code files under `dir`, as /-separated paths relative to `base`. */
function sources(dir: string, base = TEST, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, e.name);
    if (e.isDirectory()) sources(full, base, out);
    else if (/\.(ts|mts|js|mjs)$/.test(e.name)) out.push(relative(base, full).split(sep).join('/'));
  }
  return out;
}

/** A JSON string, escapes included. */
const JSON_STRING = /("(?:[^"\\\n]|\\.)*")/;

/** biome.jsonc as an object: comments and trailing commas dropped, strings (which may hold //) kept. */
function parseJsonc(text: string): unknown {
  // Each pass matches whole strings first and puts them back, so only what lies outside them goes.
  const drop = (s: string, what: RegExp): string =>
    s.replace(new RegExp(`${JSON_STRING.source}|${what.source}`, 'g'), (_m, str?: string) => str ?? '');
  return JSON.parse(drop(drop(text, /\/\/[^\n]*|\/\*[\s\S]*?\*\//), /,(?=\s*[}\]])/));
}

/** The formatter's lineWidth from biome.jsonc, so this check and the formatter cannot drift apart. */
function lineWidth(): number {
  const config = parseJsonc(readFileSync(join(ROOT, 'biome.jsonc'), 'utf8')) as { formatter?: { lineWidth?: unknown } };
  const width = config.formatter?.lineWidth;
  if (typeof width !== 'number') throw new Error('biome.jsonc: no formatter.lineWidth');
  return width;
}

/** The process starters a file takes from node:child_process; '*' for a namespace, default or dynamic import. */
function starters(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/import\s+(type\s+)?([^;]*?)\s+from\s+['"](?:node:)?child_process['"]/g)) {
    if (m[1] !== undefined) continue; // `import type`: no process
    const clause = m[2] ?? '';
    const named = /^\{([^}]*)\}$/.exec(clause.trim());
    if (named === null) {
      found.push('*');
      continue;
    }
    for (const part of (named[1] ?? '').split(',')) {
      const name = part.trim().split(/\s+as\s+/)[0] ?? '';
      if (STARTERS.has(name)) found.push(name);
    }
  }
  if (/(?:require|import)\s*\(\s*['"](?:node:)?child_process['"]/.test(text)) found.push('*');
  return found;
}

t.test('no test starts a process through node:child_process except via test/lib/spawn.ts', async (t) => {
  const files = sources(TEST);
  t.ok(files.includes(SPAWN), 'the scan sees test/lib/spawn.ts');
  t.same(
    starters(readFileSync(join(TEST, SPAWN), 'utf8')).sort(),
    ['execFile', 'spawn'],
    'the scan sees what spawn.ts imports',
  );
  const bypass: string[] = [];
  for (const f of files.filter((f) => f !== SPAWN)) {
    const text = readFileSync(join(TEST, f), 'utf8');
    const used = starters(text);
    const allowed = ALLOWED[f];
    if (allowed === undefined) {
      if (used.length > 0) bypass.push(`${f}: ${used.join(', ')}`);
      continue;
    }
    t.same(used, [allowed.fn], `${f}: only ${allowed.fn} (${allowed.why})`);
    const programs = [...text.matchAll(new RegExp(`\\b${allowed.fn}\\(\\s*([^,)]+)`, 'g'))].map((m) =>
      (m[1] ?? '').trim(),
    );
    t.ok(programs.length > 0, `${f}: still needs its allow-list entry`);
    t.same(
      programs.filter((p) => !allowed.programs.includes(p)),
      [],
      `${f}: ${allowed.fn} runs only ${allowed.programs.join(' ')}`,
    );
  }
  t.same(bypass, [], 'start them with spawnChild/runChild from test/lib/spawn.ts (extend it if it lacks something)');
  t.same(
    Object.keys(ALLOWED).filter((f) => !files.includes(f)),
    [],
    'every allow-listed file exists',
  );
});

t.test('the scan catches every way of importing a starter, and lets types through', async (t) => {
  // Spelled through a variable so that this file does not trip its own scan.
  const [cp, bare] = ["'node:child_process'", "'child_process'"];
  t.same(starters(`import { spawn, type ChildProcess } from ${cp};`), ['spawn']);
  t.same(starters(`import {\n  execFile as ef,\n  execSync,\n} from ${bare};`), ['execFile', 'execSync']);
  t.same(starters(`import * as cp from ${cp};`), ['*']);
  t.same(starters(`import cp from ${cp};`), ['*']);
  t.same(starters(`const cp = await import(${cp});`), ['*']);
  t.same(starters(`import type { ChildProcess } from ${cp};`), []);
  t.same(starters(`import { type ChildProcess } from ${cp};`), []);
});

t.test('no source line is wider than the lineWidth in biome.jsonc', async (t) => {
  const width = lineWidth();
  t.ok(Number.isInteger(width) && width >= 80, `the scan reads a lineWidth from biome.jsonc (${width})`);
  const files = CODE_DIRS.flatMap((d) => sources(join(ROOT, d), ROOT));
  t.ok(
    files.includes('src/main.ts') && files.includes('test/unit/test-hygiene.test.ts'),
    'the scan sees src/ and test/',
  );
  const wide: string[] = [];
  for (const f of files) {
    for (const [i, line] of readFileSync(join(ROOT, f), 'utf8').split('\n').entries()) {
      // Code points, as the formatter counts them: µ or → is one column, not two or three bytes.
      const columns = [...line].length;
      if (columns > width) wide.push(`${f}:${i + 1}: ${columns} columns`);
    }
  }
  t.same(
    wide,
    [],
    'split long strings with + and rewrap comments (Biome does neither); keep the runtime text identical',
  );
});

t.test('the biome.jsonc reader drops comments and trailing commas, never text inside strings', async (t) => {
  t.same(parseJsonc('// head\n{ "a": "http://x//y", /* b */ "c": [1, 2,], // tail\n}'), {
    a: 'http://x//y',
    c: [1, 2],
  });
  t.same(parseJsonc('{ "q": "say \\"// no\\"", }'), { q: 'say "// no"' });
});
