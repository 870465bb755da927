// `npm test` after the build: tap over test/ (args passed on), then a check that the run left
// nothing behind. Every temp folder a test makes lands in one fresh TMPDIR for this run, so what
// is left there afterwards is ours; every child of ours runs this checkout's dist/main.js or
// haproxy from that TMPDIR, so a process still running either is a leak. Leaks fail the run and
// are cleaned up (killed by pid, removed), so the next run starts clean.
//
// HNA_TEST_SLOWDOWN (see test/lib/deadline.ts) stretches the tests' deadlines and tap's per-file
// timeout on a machine busier than its cores; set from the load average unless already set.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const cli = join(root, 'dist', 'main.js');
const run = mkdtempSync(join(tmpdir(), 'hna-run-'));
// Like /tmp itself (sticky, everyone may enter): tests run some children as another user (the image's
// uid 65532), and mkdtemp's 0700 would lock them out of their own temp folders.
chmodSync(run, 0o1777);
const TAP_TIMEOUT_S = 120;

const slowdown =
  Number(process.env.HNA_TEST_SLOWDOWN) ||
  Math.min(5, Math.max(1, Math.round((loadavg()[0] / availableParallelism()) * 10) / 10));
if (slowdown > 1)
  console.log(
    `# machine busy (load ${loadavg()[0].toFixed(1)} on ${availableParallelism()} cores): deadlines ×${slowdown}`,
  );

const args = process.argv.slice(2);
const tapArgs = args.some((a) => a.startsWith('--timeout') || a === '-t')
  ? args
  : [`--timeout=${Math.round(TAP_TIMEOUT_S * slowdown)}`, ...args];
const code = await new Promise((resolve) => {
  const tap = spawn(join(root, 'node_modules', '.bin', 'tap'), tapArgs, {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, TMPDIR: run, HNA_TEST_SLOWDOWN: String(slowdown) },
  });
  tap.on('exit', (c, signal) => resolve(c ?? (signal === null ? 1 : 128)));
});

/** Our processes still alive: not zombies (dead, waiting for init to reap them). */
function leftovers() {
  const found = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      const state = /^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${pid}/cwd`);
      } catch {
        // not ours to read
      }
      if (
        state !== 'Z' &&
        Number(pid) !== process.pid &&
        (cmd.includes(cli) || cmd.includes(run) || cwd.startsWith(run))
      )
        found.push({ pid: Number(pid), cmd });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

// Children die with their test (teardown, or the kernel's pdeathsig): give the kernel a moment.
let procs = leftovers();
for (let i = 0; i < 20 && procs.length > 0; i++) {
  await new Promise((r) => setTimeout(r, 100));
  procs = leftovers();
}
// v8-compile-cache-*: a tool's own cache (made by a dependency of the test tooling), not a test's.
const files = readdirSync(run).filter((f) => !f.startsWith('v8-compile-cache'));
for (const p of procs) {
  try {
    process.kill(p.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
rmSync(run, { recursive: true, force: true });

if (procs.length > 0)
  console.error(
    `# LEAK: ${procs.length} process(es) of this run still running after the tests (killed now):\n` +
      `${procs.map((p) => `#   ${p.pid} ${p.cmd}`).join('\n')}`,
  );
if (files.length > 0)
  console.error(`# LEAK: ${files.length} temp folder(s) left in ${run} (removed now): ${files.join(' ')}`);
if (procs.length === 0 && files.length === 0) console.log('# no process or temp folder left behind');
process.exit(code !== 0 ? code : procs.length > 0 || files.length > 0 ? 1 : 0);
