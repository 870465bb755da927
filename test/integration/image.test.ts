// The container image, without a Docker engine: the Dockerfile's runtime stage copies exactly what
// the build and `npm pack` produce, the build context (.dockerignore) holds what the build stages
// need, and that runtime tree works read-only as the image's numeric user, started the way the
// image's ENTRYPOINT + CMD start it.
import t from 'tap';
// Only for bounded coreutils on local files (du, find, chmod, rm, cp, touch): none can hang. Node, npm,
// tsc and the daemon go through ./lib/spawn.js.
import { execFileSync } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix, relative, sep } from 'node:path';
import { RUN_FLAGS } from '../../src/run/run-config.js';
import { FakeApiServer } from '../../src/testkit/fakeapi/server.js';
import { seedCluster } from '../lib/agent-process.js';
import { probe } from '../lib/probe.js';
import { deadline, within } from '../lib/deadline.js';
import { runChild, spawnChild } from '../lib/spawn.js';

const root = join(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  bin: Record<string, string>;
  files: string[];
  engines: { node: string };
};

// ---------------------------------------------------------------------------------------------
// A small Dockerfile reader: stages, and each stage's instructions with continuations joined.

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue; // a comment inside a continuation
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push(pending + line);
    pending = '';
  }
  for (const l of logical) {
    const m = /^(\w+)\s+(.*)$/.exec(l);
    if (!m) throw new Error(`unparsable Dockerfile line: ${l}`);
    const op = m[1]!.toUpperCase();
    const args = m[2]!.trim();
    if (op === 'FROM') {
      const f = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!f) throw new Error(`unparsable FROM: ${args}`);
      stages.push({ image: f[1]!, name: f[2], instructions: [] });
    } else {
      const cur = stages.at(-1);
      if (cur === undefined) throw new Error(`${op} before FROM`);
      cur.instructions.push({ op, args });
    }
  }
  return stages;
}

interface Copy {
  from: string | undefined;
  sources: string[];
  dest: string;
}

function copies(stage: Stage): Copy[] {
  const out: Copy[] = [];
  let workdir = '/';
  for (const ins of stage.instructions) {
    if (ins.op === 'WORKDIR') workdir = posix.resolve(workdir, ins.args);
    if (ins.op !== 'COPY' && ins.op !== 'ADD') continue;
    if (ins.op === 'ADD') throw new Error('ADD used: use COPY (no remote URLs or archives in the image)');
    const words = ins.args.startsWith('[') ? (JSON.parse(ins.args) as string[]) : ins.args.split(/\s+/);
    let from: string | undefined;
    const rest: string[] = [];
    for (const w of words) {
      if (w.startsWith('--from=')) from = w.slice('--from='.length);
      else if (!w.startsWith('--')) rest.push(w);
    }
    const dest = rest.pop()!;
    out.push({ from, sources: rest, dest: posix.resolve(workdir, dest) });
  }
  return out;
}

const exec = (stage: Stage, op: string): unknown => {
  const ins = stage.instructions.filter((i) => i.op === op).at(-1);
  return ins === undefined ? undefined : JSON.parse(ins.args);
};

// ---------------------------------------------------------------------------------------------
// .dockerignore as Docker reads it: last matching pattern wins, a pattern also matches a path when
// it matches one of the path's parent directories, `!` re-includes.

function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pat = posix.normalize(negate ? l.slice(1).trim() : l).replace(/^\/+|\/+$/g, '');
      let re = '';
      for (let i = 0; i < pat.length; i++) {
        const c = pat[i]!;
        if (c === '*' && pat[i + 1] === '*') {
          re += '.*';
          i++;
          if (pat[i + 1] === '/') i++;
        } else if (c === '*') re += '[^/]*';
        else if (c === '?') re += '[^/]';
        else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      }
      return { negate, re: new RegExp(`^${re}$`) };
    });
  /** true when the path is excluded from the build context. */
  return (path: string) => {
    const parts = path.split('/');
    const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const r of rules) if (candidates.some((c) => r.re.test(c))) excluded = !r.negate;
    return excluded;
  };
}

function walk(dir: string, skip: (rel: string) => boolean, base = dir, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, e.name);
    const rel = relative(base, full).split(sep).join('/');
    if (skip(rel)) continue;
    if (e.isDirectory()) walk(full, skip, base, out);
    else out.push(rel);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

const stages = parseDockerfile(readFileSync(join(root, 'Dockerfile'), 'utf8'));
const runtime = stages.at(-1)!;
const stageByName = (name: string | undefined): Stage | undefined => stages.find((s) => s.name === name);
const WORKDIR = '/app';

t.test('Dockerfile: multi-stage, Node 20, distroless runtime as a numeric non-root user', async (t) => {
  t.ok(stages.length >= 2, 'multi-stage');
  const nodeMajor = /(\d+)/.exec(pkg.engines.node)?.[1];
  for (const s of stages.slice(0, -1))
    t.match(
      s.image,
      new RegExp(`^node:${nodeMajor}-bookworm-slim(@sha256:[0-9a-f]{64})?$`),
      `stage ${s.name}: node:${nodeMajor}-bookworm-slim`,
    );
  t.match(
    runtime.image,
    new RegExp(`^gcr\\.io/distroless/nodejs${nodeMajor}-debian12(:nonroot)?(@sha256:[0-9a-f]{64})?$`),
    'runtime: distroless Node of the same major',
  );
  t.same(
    runtime.instructions.filter((i) => i.op === 'RUN'),
    [],
    'no RUN in the runtime stage: it has no shell',
  );
  const user = runtime.instructions.filter((i) => i.op === 'USER').at(-1)?.args ?? '';
  t.match(user, /^[1-9]\d*(:[1-9]\d*)?$/, 'USER is numeric and not root (runAsNonRoot can check it)');
  t.equal(user.split(':')[0], '65532', 'the distroless nonroot uid, as deploy/ runs it');
  t.equal(runtime.instructions.filter((i) => i.op === 'WORKDIR').at(-1)?.args, WORKDIR);
  t.same(
    exec(runtime, 'ENTRYPOINT'),
    ['/nodejs/bin/node', `${WORKDIR}/${pkg.bin['haproxy-node-agent']}`],
    'ENTRYPOINT: distroless node + the package bin, exec form',
  );
  t.same(exec(runtime, 'CMD'), ['run'], 'CMD: the run command');

  const build = stages.find((s) => s.instructions.some((i) => i.op === 'RUN' && /\bnpm run build\b/.test(i.args)));
  t.ok(build, 'a stage runs npm run build');
  t.ok(
    build?.instructions.some((i) => i.op === 'RUN' && /\bnpm ci\b/.test(i.args) && !/--omit=dev/.test(i.args)),
    'the build stage installs dev dependencies (tsc)',
  );
});

t.test('runtime stage copies exactly dist/, package.json, production node_modules and LICENSE', async (t) => {
  const got = copies(runtime).map((c) => ({ dest: c.dest, from: c.from, sources: c.sources }));
  t.equal(
    got.filter((c) => c.from === undefined).length,
    0,
    'nothing from the build context straight into the runtime',
  );
  t.same(got.map((c) => c.dest).sort(), [
    `${WORKDIR}/LICENSE`,
    `${WORKDIR}/dist`,
    `${WORKDIR}/node_modules`,
    `${WORKDIR}/package.json`,
  ]);
  for (const c of got) {
    const src = stageByName(c.from);
    t.ok(src, `${c.dest} comes from stage ${c.from}`);
    if (src === undefined) continue;
    const srcDir = src.instructions.filter((i) => i.op === 'WORKDIR').at(-1)?.args;
    t.same(
      c.sources,
      [`${srcDir}/${posix.basename(c.dest)}`],
      `${c.dest} ← ${c.from}:${srcDir}/${posix.basename(c.dest)}`,
    );
    if (c.dest.endsWith('/node_modules')) {
      t.ok(
        src.instructions.some((i) => i.op === 'RUN' && /\bnpm ci\b.*--omit=dev/.test(i.args)),
        'node_modules from `npm ci --omit=dev`: production dependencies only',
      );
    }
    if (c.dest.endsWith('/dist')) {
      t.ok(
        src.instructions.some((i) => i.op === 'RUN' && /\bnpm run build\b/.test(i.args)),
        'dist/ from the stage that runs the build',
      );
      const tsconfig = JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8')) as {
        compilerOptions: { outDir: string };
      };
      t.equal(tsconfig.compilerOptions.outDir, 'dist', 'tsc writes dist/');
    }
  }

  // `npm pack` ships package.json, README/LICENSE and `files` (dist/). The image must carry all of it
  // but the docs: anything npm would ship outside dist/ would be missing from the image.
  t.same(pkg.files, ['dist/'], 'package.json "files" is dist/ only');
  // Async with a generous deadline: npm itself takes seconds to start on a loaded 2-core machine.
  const pack = await runChild('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root });
  if (pack.code !== 0) throw new Error(`npm pack: exit ${pack.code}: ${pack.stderr}`);
  const packedJson = pack.stdout;
  const packed = JSON.parse(packedJson) as Array<{ files: Array<{ path: string }> }>;
  const outside = packed[0]!.files
    .map((f) => f.path)
    .filter((p) => p !== 'package.json' && !p.startsWith('dist/') && !/^(README|LICENSE|LICENCE)(\.|$)/i.test(p));
  t.same(outside, [], 'npm pack ships nothing the image lacks');
  const inImage = copies(runtime).map((c) => posix.relative(WORKDIR, c.dest));
  for (const doc of packed[0]!.files.map((f) => f.path).filter((p) => /^LICEN[CS]E(\.|$)/i.test(p))) {
    t.ok(inImage.includes(doc), `the image carries ${doc}, as npm pack does`);
  }
});

t.test('.dockerignore: the build context holds what the build stages COPY, and nothing local', async (t) => {
  const ignored = dockerignore(readFileSync(join(root, '.dockerignore'), 'utf8'));
  const heavy = ['node_modules', 'dist', '.git', '.tap', 'build'];
  const context = walk(root, (rel) => heavy.includes(rel) || ignored(rel));
  const fromContext = [
    ...new Set(
      stages.flatMap((s) =>
        copies(s)
          .filter((c) => c.from === undefined)
          .flatMap((c) => c.sources),
      ),
    ),
  ];
  t.same(
    fromContext.sort(),
    ['LICENSE', 'package-lock.json', 'package.json', 'src', 'tsconfig.json'],
    'the build stages COPY these from the context',
  );
  for (const src of fromContext) {
    t.notOk(ignored(src), `${src} is in the context`);
    t.ok(
      context.some((p) => p === src || p.startsWith(`${src}/`)),
      `${src} exists`,
    );
  }
  t.ok(context.includes('src/main.ts'), 'src/ contents are in the context');
  for (const p of [
    'node_modules',
    'node_modules/pino/package.json',
    'dist/main.js',
    '.git/HEAD',
    'test/integration/deploy.test.ts',
    '.tap',
    'deploy/base/daemonset.yaml',
    'kubeconfig',
    'x.log',
  ]) {
    t.ok(ignored(p), `${p} stays out of the context`);
  }
  t.same(
    context.filter((p) => !p.startsWith('src/')).sort(),
    ['LICENSE', 'package-lock.json', 'package.json', 'tsconfig.json'],
    'the whole context',
  );
});

// ---------------------------------------------------------------------------------------------
// The runtime tree, assembled as the Dockerfile does, made read-only, run as uid 65532.

const UID = 65532;
const asRoot = process.getuid?.() === 0;
const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

/** Every non-dev package of the lockfile: exactly what `npm ci --omit=dev` installs. */
function productionPackages(): string[] {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean; optional?: boolean }>;
  };
  return Object.entries(lock.packages)
    .filter(([path, p]) => path !== '' && p.dev !== true)
    .map(([path]) => path);
}

function treeState(dir: string): string[] {
  return walk(dir, () => false).map((rel) => {
    const st = lstatSync(join(dir, rel));
    return `${rel} ${st.size} ${st.mtimeMs}`;
  });
}

function du(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
}

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

t.test('the runtime tree, read-only, as the image user: help, bad kubeconfig, a real probe, SIGTERM', async (t) => {
  // dist/ as `npm run build` left it (npm test builds first); built here into a temp dir if absent.
  let dist = join(root, 'dist');
  const base = mkdtempSync(join(tmpdir(), 'hna-image-'));
  t.teardown(() => {
    // Directories only: files may be hard links.
    execFileSync('find', [base, '-type', 'd', '-exec', 'chmod', 'u+w', '{}', '+']);
    execFileSync('rm', ['-rf', base]);
  });
  if (!existsSync(join(dist, 'main.js'))) {
    t.comment('dist/ missing: building with tsc into a temp dir');
    const tscArgs = ['-p', join(root, 'tsconfig.json'), '--outDir', join(base, 'built')];
    const tsc = await runChild(join(root, 'node_modules', '.bin', 'tsc'), tscArgs, { timeoutMs: 300_000 });
    if (tsc.code !== 0) throw new Error(`tsc: exit ${tsc.code}: ${tsc.stdout}${tsc.stderr}`);
    dist = join(base, 'built');
  }

  const asUser = asRoot && setpriv !== undefined;
  const app = join(base, 'app'); // plays /app
  mkdirSync(app);
  // Each runtime COPY of the Dockerfile, fed from what its stage produces here: the build's dist/,
  // package.json, and the lockfile's production packages (= `npm ci --omit=dev`).
  const prod = productionPackages();
  let linked = false;
  for (const c of copies(runtime)) {
    const what = posix.relative(WORKDIR, c.dest);
    if (what === 'dist') cpSync(dist, join(app, 'dist'), { recursive: true });
    else if (what === 'package.json') cpSync(join(root, 'package.json'), join(app, 'package.json'));
    else if (what === 'LICENSE') cpSync(join(root, 'LICENSE'), join(app, 'LICENSE'));
    else if (what === 'node_modules') {
      // Nested node_modules come along with their top-level package. As root, hard links (fast, no
      // 70 MB copy): the files stay root-owned 0644, which uid 65532 cannot write either; they are
      // never chmod-ed, as they are the repository's own files.
      const topLevel = prod.filter((p) => p.split('node_modules/').length === 2 && existsSync(join(root, p)));
      try {
        if (!asUser) throw new Error('copy');
        execFileSync('cp', ['-a', '--link', '--parents', ...topLevel, app], { cwd: root, stdio: 'ignore' });
        linked = true;
      } catch {
        rmSync(join(app, 'node_modules'), { recursive: true, force: true });
        execFileSync('cp', ['-a', '--parents', ...topLevel, app], { cwd: root });
      }
    } else t.fail(`no local stand-in for COPY to ${c.dest}`);
  }
  const missing = prod.filter((p) => !existsSync(join(app, p)) && existsSync(join(root, p)));
  t.same(missing, [], 'every production package (nested ones too) is in the tree');
  for (const dev of ['typescript', 'tap'])
    t.notOk(existsSync(join(app, 'node_modules', dev)), `dev dependency ${dev} is not in the tree`);
  const sizes = { dist: du(join(app, 'dist')), node_modules: du(join(app, 'node_modules')) };
  t.comment(
    `runtime files: ${((sizes.dist + sizes.node_modules) / 2 ** 20).toFixed(1)} MiB ` +
      `(dist ${(sizes.dist / 2 ** 10).toFixed(0)} KiB, ` +
      `production node_modules ${(sizes.node_modules / 2 ** 20).toFixed(1)} MiB)`,
  );

  // Read-only, like readOnlyRootFilesystem: no write bit for anyone (directories and our copies;
  // hard-linked files are root's and left as they are).
  chmodSync(base, 0o755);
  if (linked) {
    execFileSync('find', [app, '-type', 'd', '-exec', 'chmod', 'a-w', '{}', '+']);
    execFileSync('chmod', ['-R', 'a-w', join(app, 'dist'), join(app, 'package.json')]);
    t.same(
      execFileSync('find', [app, '(', '-user', String(UID), '-o', '-perm', '-o+w', ')', '-print'], {
        encoding: 'utf8',
      }),
      '',
      `no file owned by or writable for uid ${UID}`,
    );
  } else {
    execFileSync('chmod', ['-R', 'a-w', app]);
  }
  const before = treeState(app);

  // The only writable place: an empty TMPDIR owned by the user (the pod's /tmp emptyDir).
  const tmp = join(base, 'tmp');
  mkdirSync(tmp);
  if (asUser) chownSync(tmp, UID, UID);
  else
    t.comment(
      asRoot
        ? 'setpriv (util-linux) missing: running as root'
        : `not root: running as uid ${process.getuid?.()}, not ${UID}`,
    );

  // ENTRYPOINT + CMD from the Dockerfile, with /nodejs/bin/node → this node and /app → the tree.
  const entrypoint = (exec(runtime, 'ENTRYPOINT') as string[]).map((a, i) =>
    i === 0 ? process.execPath : a.replace(/^\/app\//, `${app}/`),
  );
  const cmd = exec(runtime, 'CMD') as string[];
  // --pdeathsig again after the uid change (which clears the one test/lib/spawn.ts set): setpriv
  // applies it after switching users, so the daemon still dies with this test process.
  const user = asUser
    ? [
        setpriv!,
        `--reuid=${UID}`,
        `--regid=${UID}`,
        '--clear-groups',
        '--no-new-privs',
        '--bounding-set=-all',
        '--inh-caps=-all',
        '--pdeathsig',
        'SIGKILL',
        '--',
      ]
    : [];
  // `env -i`: exactly the image's environment. (tap's process tracking adds NODE_OPTIONS with its
  // loaders to every child's env; that would not be the image any more.) env and setpriv exec, so
  // the node process is the child itself and gets our signals.
  const environment = ['PATH=/usr/bin:/bin', 'HOME=/nonexistent', `TMPDIR=${tmp}`, 'NODE_ENV=production'];
  const argv = (args: string[]): string[] => ['-i', ...environment, ...user, ...entrypoint, ...args];
  const image = (args: string[]): Promise<Result> => runChild('/usr/bin/env', argv(args), { cwd: app });

  if (asUser) {
    t.throws(
      () =>
        execFileSync(setpriv!, [`--reuid=${UID}`, `--regid=${UID}`, '--clear-groups', 'touch', join(app, 'probe')], {
          stdio: 'ignore',
        }),
      'the user cannot write the tree',
    );
  }

  const [help, runHelp, noFile, badFile] = await Promise.all([
    image(['--help']),
    image([...cmd, '--help']),
    image([
      ...cmd,
      '--node-name',
      'n1',
      '--kubeconfig',
      join(base, 'no-such-kubeconfig'),
      '--agent-port=0',
      '--http-port=0',
      '--agent-address=127.0.0.1',
      '--http-address=127.0.0.1',
    ]),
    (() => {
      const bad = join(base, 'bad-kubeconfig');
      writeFileSync(bad, 'apiVersion: v1\nkind: Config\nclusters: [{{{ not yaml\n', { mode: 0o444 });
      return image([
        ...cmd,
        '--node-name',
        'n1',
        '--kubeconfig',
        bad,
        '--agent-port=0',
        '--http-port=0',
        '--agent-address=127.0.0.1',
        '--http-address=127.0.0.1',
      ]);
    })(),
  ]);

  t.equal(help.code, 0, `--help exits 0 ${help.stderr}`);
  t.match(help.stdout, /Usage: haproxy-node-agent <command>/);
  t.match(help.stdout, /^\s+run\s/m, 'lists the run command');

  t.equal(runHelp.code, 0, `run --help exits 0 ${runHelp.stderr}`);
  const listed = [...runHelp.stdout.matchAll(/^\s+--([a-z-]+)/gm)].map((m) => m[1]);
  t.same(
    listed,
    RUN_FLAGS.map((f) => f.name),
    'run --help lists every flag, in order',
  );
  t.equal(runHelp.stderr, '', 'nothing on stderr');

  for (const [what, r] of [
    ['missing', noFile],
    ['unparsable', badFile],
  ] as const) {
    t.equal(r.code, 2, `${what} kubeconfig: exit 2 (a configuration error)`);
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    t.equal(lines.length, 1, `${what} kubeconfig: one line on stderr: ${JSON.stringify(r.stderr)}`);
    t.match(lines[0] ?? '', /^haproxy-node-agent: --kubeconfig: /, `${what} kubeconfig: the line names --kubeconfig`);
    t.equal(r.stdout, '', `${what} kubeconfig: nothing on stdout`);
  }

  // The daemon for real, from the read-only tree as the image user: list+watch a fake API server,
  // answer a probe, then SIGTERM → exit 0.
  const api = new FakeApiServer();
  await api.start();
  t.teardown(() => api.stop());
  seedCluster(api, 'n1');
  const kubeconfig = join(base, 'kubeconfig');
  api.writeKubeconfig(kubeconfig);
  chmodSync(kubeconfig, 0o444);
  const daemon = spawnChild(
    t,
    '/usr/bin/env',
    argv([
      ...cmd,
      '--node-name',
      'n1',
      '--kubeconfig',
      kubeconfig,
      '--agent-port=0',
      '--http-port=0',
      '--agent-address=127.0.0.1',
      '--http-address=127.0.0.1',
    ]),
    {
      cwd: app,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const { stdout, stderr } = daemon;
  if (stdout === null || stderr === null) throw new Error('no pipes');
  const exited = new Promise<number | null>((resolve) => daemon.on('exit', (code) => resolve(code)));
  let out = '';
  let err = '';
  stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const ports = await new Promise<{ agent: number; http: number }>((resolve, reject) => {
    stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      for (const line of out.split('\n')) {
        const rec = /^\{.*"msg":"listening".*\}$/.test(line)
          ? (JSON.parse(line) as { agent: string; http: string })
          : undefined;
        if (rec) resolve({ agent: Number(rec.agent.split(':').pop()), http: Number(rec.http.split(':').pop()) });
      }
    });
    void exited.then((code) => reject(new Error(`daemon exited (${code}) before listening: ${err}`)));
    setTimeout(
      () => reject(new Error(`no "listening" log line within ${deadline(30)} s: ${out} ${err}`)),
      deadline(30_000),
    ).unref();
  });
  let ready = 0;
  for (const until = Date.now() + deadline(20_000); Date.now() < until && ready !== 200; ) {
    ready = await fetch(`http://127.0.0.1:${ports.http}/readyz`).then(
      (r) => r.status,
      () => 0,
    );
    if (ready !== 200) await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(ready, 200, '/readyz turns 200 after the first full list');
  t.equal(await probe(ports.agent, { send: 'shop/web\n' }), 'ready up 100%\n', 'answers an agent-check');
  if (asUser) {
    // env and setpriv exec'd, so this pid is node itself.
    const status = readFileSync(`/proc/${daemon.pid}/status`, 'utf8');
    t.match(status, new RegExp(`^Uid:\\s+${UID}\\s+${UID}\\s+${UID}\\s+${UID}$`, 'm'), `node runs as uid ${UID}`);
    t.match(status, new RegExp(`^Gid:\\s+${UID}\\s`, 'm'), `and gid ${UID}`);
    t.match(status, /^CapEff:\s+0+$/m, 'with no capabilities');
  }
  const stopAt = Date.now();
  daemon.kill('SIGTERM');
  // A deadline (it must stop by itself), not a timing goal.
  t.equal(await within(exited, deadline(30_000), 'still running'), 0, 'SIGTERM → exit 0');
  t.comment(`stopped ${Date.now() - stopAt} ms after SIGTERM`);
  t.equal(err, '', 'nothing on stderr');
  t.ok(
    out
      .split('\n')
      .filter((l) => l !== '')
      .every((l) => l.startsWith('{')),
    'stdout is JSON log lines',
  );

  t.same(treeState(app), before, 'the tree is unchanged');
  t.same(readdirSync(tmp), [], 'nothing written to TMPDIR');
  t.same(
    readdirSync(base).sort(),
    ['app', 'bad-kubeconfig', 'kubeconfig', ...(dist === join(root, 'dist') ? [] : ['built']), 'tmp'].sort(),
    'nothing written next to the tree',
  );
  try {
    accessSync('/nonexistent');
    t.fail('HOME exists');
  } catch {
    t.pass('HOME (/nonexistent) was not created');
  }
});
