// `npm run release -- X.Y.Z` on a copy of the repository's own files: every place the version is
// written down moves together, and a refusal writes nothing.
import t, { type Test } from 'tap';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runChild } from '../lib/spawn.js';

const root = join(import.meta.dirname, '..', '..');
const SCRIPT = join(root, 'scripts', 'release.mjs');
const IMAGE = 'deploy/components/image/kustomization.yaml';
const FILES = ['package.json', 'package-lock.json', 'Dockerfile', IMAGE, 'CHANGELOG.md'];

function copyRepo(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'hna-release-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'deploy', 'components', 'image'), { recursive: true });
  for (const f of FILES) cpSync(join(root, f), join(dir, f));
  return dir;
}

async function release(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await runChild(process.execPath, [SCRIPT, ...args], { timeoutMs: 60_000 });
  return { ...r, code: r.code ?? -1 };
}

/** Every version the repository states, by where it is written. */
function versions(dir: string): Record<string, string | undefined> {
  const read = (f: string): string => readFileSync(join(dir, f), 'utf8');
  const lock = JSON.parse(read('package-lock.json')) as {
    version: string;
    packages: Record<string, { version?: string }>;
  };
  return {
    package: (JSON.parse(read('package.json')) as { version: string }).version,
    lock: lock.version,
    lockRoot: lock.packages['']?.version,
    kustomize: /^\s*newTag:\s*(\S+)$/m.exec(read(IMAGE))?.[1],
    label: /org\.opencontainers\.image\.version="([^"]*)"/.exec(read('Dockerfile'))?.[1],
  };
}

t.test('the repository states one version everywhere, and the changelog has it', async (t) => {
  const v = versions(root);
  t.same(new Set(Object.values(v)).size, 1, `one version: ${JSON.stringify(v)}`);
  t.match(readFileSync(join(root, 'CHANGELOG.md'), 'utf8'), `## [${v.package}] - `, 'CHANGELOG has a section for it');
});

t.test('release 9.8.7 moves every version and turns Unreleased into the release', { timeout: 120_000 }, async (t) => {
  const dir = copyRepo(t);
  const before = readFileSync(join(dir, 'CHANGELOG.md'), 'utf8');
  const unreleased = /## \[Unreleased\]\n([\s\S]*?)\n## \[/.exec(before)?.[1] ?? '';
  const r = await release(['9.8.7', '--date', '2030-01-02', '--dir', dir]);
  t.equal(r.code, 0, `exit 0: ${r.stderr}`);
  t.same(
    versions(dir),
    { package: '9.8.7', lock: '9.8.7', lockRoot: '9.8.7', kustomize: '9.8.7', label: '9.8.7' },
    'every version moved',
  );
  const after = readFileSync(join(dir, 'CHANGELOG.md'), 'utf8');
  t.match(after, /## \[Unreleased\]\n\n## \[9\.8\.7\] - 2030-01-02\n/, 'an empty Unreleased above the new release');
  t.ok(after.includes(unreleased.trim()), 'the Unreleased notes now belong to 9.8.7');
  t.match(after, /## \[0\.1\.0\] - /, 'older releases stay');
  t.match(r.stdout, /git tag v9\.8\.7/, 'prints the next steps');
  t.same(
    JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8')).packages['node_modules/pino'],
    JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')).packages['node_modules/pino'],
    'the rest of the lock is untouched',
  );

  // Again with nothing new under Unreleased: refused, nothing written.
  const snapshot = FILES.map((f) => readFileSync(join(dir, f), 'utf8'));
  const again = await release(['9.8.8', '--dir', dir]);
  t.equal(again.code, 2, 'an empty Unreleased is refused');
  t.match(again.stderr, /nothing under \[Unreleased\]/, 'saying why');
  t.same(
    FILES.map((f) => readFileSync(join(dir, f), 'utf8')),
    snapshot,
    'and nothing was written',
  );
});

t.test('bad versions are refused before anything is written', { timeout: 120_000 }, async (t) => {
  const dir = copyRepo(t);
  const snapshot = FILES.map((f) => readFileSync(join(dir, f), 'utf8'));
  const current = versions(dir).package as string;
  for (const [args, why] of [
    [['0.0.1'], /not newer/],
    [[current], /not newer/],
    [['1.2'], /not a version/],
    [['1.2.3;rm -rf /'], /not a version/],
    [[], /which version/],
    [['1.0.0', '--bogus'], /unknown flag/],
  ] as const) {
    const r = await release([...args, '--dir', dir]);
    t.equal(r.code, 2, `${args.join(' ') || '(none)'}: exit 2`);
    t.match(r.stderr, why, `${args.join(' ') || '(none)'}: says why`);
  }
  t.same(
    FILES.map((f) => readFileSync(join(dir, f), 'utf8')),
    snapshot,
    'nothing was written',
  );
});
