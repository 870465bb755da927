#!/usr/bin/env node
// `npm run release -- X.Y.Z`: one version everywhere it is written down. package.json and its lock,
// the image tag in deploy/components/image/kustomization.yaml (the one image reference of deploy/
// and its overlays), the Dockerfile's OCI version label, and CHANGELOG.md
// (the Unreleased section becomes "## [X.Y.Z] - DATE"). Everything is checked before anything is
// written, so a refusal leaves the tree as it was. It commits, tags and pushes nothing.
//
//   npm run release -- 0.2.0 [--date 2026-12-01] [--dir PATH]
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$/;

function fail(message) {
  process.stderr.write(`release: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const out = {
    version: undefined,
    date: new Date().toISOString().slice(0, 10),
    dir: resolve(import.meta.dirname, '..'),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--date' || a === '--dir') {
      const v = argv[++i];
      if (v === undefined) fail(`${a} needs a value`);
      out[a.slice(2)] = a === '--dir' ? resolve(v) : v;
    } else if (a.startsWith('--'))
      fail(`unknown flag ${a} (usage: npm run release -- X.Y.Z [--date YYYY-MM-DD] [--dir PATH])`);
    else if (out.version === undefined) out.version = a.replace(/^v/, '');
    else fail(`unexpected argument "${a}"`);
  }
  if (out.version === undefined) fail('which version? usage: npm run release -- X.Y.Z');
  if (!SEMVER.test(out.version)) fail(`"${out.version}" is not a version like 1.2.3 or 1.2.3-rc.1`);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(out.date)) fail(`--date: expected YYYY-MM-DD, got "${out.date}"`);
  return out;
}

/** -1, 0, 1 like a comparator; a pre-release sorts before its release (1.0.0-rc.1 < 1.0.0). */
function compare(a, b) {
  const pa = SEMVER.exec(a);
  const pb = SEMVER.exec(b);
  for (let i = 1; i <= 3; i++) {
    const d = Number(pa[i]) - Number(pb[i]);
    if (d !== 0) return Math.sign(d);
  }
  if (pa[4] === pb[4]) return 0;
  if (pa[4] === undefined) return 1;
  if (pb[4] === undefined) return -1;
  return pa[4] < pb[4] ? -1 : 1;
}

/** Replaces exactly one match of `re` (which must capture the text before the version in $1). */
function replaceOne(file, text, re, version, what) {
  const matches = text.match(new RegExp(re.source, `${re.flags.replace('g', '')}g`)) ?? [];
  if (matches.length !== 1) fail(`${file}: expected one ${what}, found ${matches.length}`);
  return text.replace(re, `$1${version}$2`);
}

const { version, date, dir } = parseArgs(process.argv.slice(2));
const read = (file) => {
  try {
    return readFileSync(join(dir, file), 'utf8');
  } catch (err) {
    return fail(`${file}: ${err.message}`);
  }
};

const pkgText = read('package.json');
const current = JSON.parse(pkgText).version;
if (typeof current !== 'string' || !SEMVER.test(current)) fail(`package.json: version "${current}" is not a version`);
if (compare(version, current) <= 0) fail(`${version} is not newer than the current ${current}`);

const files = new Map();
files.set('package.json', replaceOne('package.json', pkgText, /^(\s*"version":\s*")[^"]*(")/m, version, '"version"'));

const lock = JSON.parse(read('package-lock.json'));
if (lock.packages?.[''] === undefined)
  fail('package-lock.json: no packages[""] entry (lockfileVersion 2 or 3 expected)');
lock.version = version;
lock.packages[''].version = version;
files.set('package-lock.json', `${JSON.stringify(lock, null, 2)}\n`);

files.set(
  'deploy/components/image/kustomization.yaml',
  replaceOne(
    'deploy/components/image/kustomization.yaml',
    read('deploy/components/image/kustomization.yaml'),
    /^(\s*newTag:\s*)\S+()$/m,
    version,
    'images: newTag',
  ),
);
files.set(
  'Dockerfile',
  replaceOne(
    'Dockerfile',
    read('Dockerfile'),
    /(org\.opencontainers\.image\.version=")[^"]*(")/,
    version,
    'org.opencontainers.image.version label',
  ),
);

const changelog = read('CHANGELOG.md');
const head = /^## \[Unreleased\][^\n]*\n/m.exec(changelog);
if (head === null) fail('CHANGELOG.md: no "## [Unreleased]" section');
const bodyStart = head.index + head[0].length;
const next = changelog.slice(bodyStart).search(/^## \[/m);
const body = changelog.slice(bodyStart, next === -1 ? undefined : bodyStart + next);
if (!/^\s*[-*] \S/m.test(body)) fail('CHANGELOG.md: nothing under [Unreleased]; say what changed before releasing');
if (new RegExp(`^## \\[${version.replace(/\./g, '\\.')}\\]`, 'm').test(changelog))
  fail(`CHANGELOG.md: ${version} is already there`);
files.set(
  'CHANGELOG.md',
  `${changelog.slice(0, bodyStart)}\n## [${version}] - ${date}\n${body.replace(/^\n+/, '\n')}` +
    `${next === -1 ? '' : changelog.slice(bodyStart + next)}`,
);

for (const [file, text] of files) writeFileSync(join(dir, file), text);
process.stdout.write(
  `release: ${current} -> ${version} in ${[...files.keys()].join(', ')}
next: npm ci && npm test, then
  git commit -am "Release ${version}" && git tag v${version}
  docker build --build-arg REVISION=$(git rev-parse HEAD) -t REGISTRY/haproxy-node-agent:${version} . ` +
    `&& docker push REGISTRY/haproxy-node-agent:${version}
`,
);
