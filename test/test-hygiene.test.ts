// Every process a test starts dies with it (test/lib/spawn.ts: pdeathsig, killed at teardown), even
// when tap kills the file on its timeout. This fails when a test file starts one through
// node:child_process directly, outside a tiny allow-list of bounded one-shot utilities.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

const TEST = import.meta.dirname;
/** The one file that may start anything: it is where the guarantee is made. */
const SPAWN = 'lib/spawn.ts';
/** What node:child_process offers to start a process. */
const STARTERS = new Set(['spawn', 'exec', 'execFile', 'fork', 'spawnSync', 'execSync', 'execFileSync']);

/**
 * File → the one starter it may import, the programs (first argument, as written) it may run with
 * it, and why those may bypass spawn.ts: each is bounded, works on local files and cannot hang.
 */
const ALLOWED: Record<string, { fn: string; programs: string[]; why: string }> = {
  'image.test.ts': {
    fn: 'execFileSync',
    programs: ["'du'", "'find'", "'rm'", "'cp'", "'chmod'", 'setpriv!'],
    why: 'coreutils on the temp tree; setpriv ... touch',
  },
  'lib/tls-front.ts': { fn: 'execFileSync', programs: ["'openssl'"], why: 'one-shot openssl req/x509, no stdin' },
  'hostile/override.test.ts': { fn: 'execFileSync', programs: ["'mkfifo'"], why: 'makes a FIFO' },
};

function sources(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, e.name);
    if (e.isDirectory()) sources(full, out);
    else if (/\.(ts|mts|js|mjs)$/.test(e.name)) out.push(relative(TEST, full).split(sep).join('/'));
  }
  return out;
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
