// Abuse of the agent port, against the built daemon: thousands of idle connections and the
// connection cap, slowloris, 1 MB without a newline, random bytes, half-closed sockets. Each case:
// no crash, bounded memory, and normal probes running alongside still answered correctly (their
// latencies are reported as comments: timing goals belong to `npm run bench`, not to a test that
// must pass on a busy machine).
import t, { type Test } from 'tap';
import { connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { probe } from '../lib/probe.js';
import { httpGet, metricValue, startSyncedAgent, type AgentProcess } from '../lib/agent-process.js';
import { parseRequestLine } from '../../src/core/reply.js';
import { mulberry32 } from '../lib/prng.js';
import { deadline } from '../lib/deadline.js';

const WEB = 'shop/web\n';
const API = 'shop/api\n';
const M = 'haproxy_node_agent_';
/**
 * Generous bounds on the daemon's resident memory under abuse. Under tap the daemon also loads
 * tap's process-info hook (NODE_OPTIONS=--import ...), which alone takes it to ~330 MB; so the
 * growth is what is asserted, plus an absolute ceiling. `npm run bench` reports the real RSS.
 */
const RSS_GROWTH_LIMIT_MB = 150;
const RSS_LIMIT_MB = 600;
/** Deadlines for things that must happen (generous: tests share 2 busy cores). */
const PROBE_DEADLINE_MS = deadline(15_000);
const DEADLINE_MS = deadline(20_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
  return m === null ? NaN : Number(m[1]) / 1024;
}

function openFilesLimit(): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'latin1'));
  return m === null || m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

async function metrics(agent: AgentProcess): Promise<string> {
  return (await httpGet(agent.httpPort, '/metrics')).body;
}

async function seeded(t: Test, args: string[] = []): Promise<AgentProcess> {
  return (await startSyncedAgent(t, args)).agent;
}

/** Normal probes in a loop until stopped: every answer checked, latencies kept. */
function normalProbes(port: number): { stop: () => Promise<{ n: number; wrong: string[]; p50: number; max: number }> } {
  let running = true;
  const lat: number[] = [];
  const wrong: string[] = [];
  const loop = (async () => {
    while (running) {
      const started = Date.now();
      const r = await probe(port, { send: API, timeoutMs: PROBE_DEADLINE_MS }).catch(
        (e: Error) => `error: ${e.message}`,
      );
      lat.push(Date.now() - started);
      if (r !== 'ready up 50%\n') wrong.push(r);
      await sleep(10);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      const s = [...lat].sort((a, b) => a - b);
      return { n: s.length, wrong, p50: s[Math.floor(s.length / 2)] ?? NaN, max: s[s.length - 1] ?? NaN };
    },
  };
}

/** Opens a connection and resolves once connected; records whether/when the server closed it. */
interface Held {
  s: Socket;
  data: string;
  closedAt: number | undefined;
  error: string | undefined;
}

interface HoldOptions {
  allowHalfOpen?: boolean;
  /** Sent as soon as connected, then our side is half-closed. */
  endWith?: string;
}

function hold(port: number, opts: HoldOptions = {}): Promise<Held> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, allowHalfOpen: opts.allowHalfOpen ?? false });
    const h: Held = { s, data: '', closedAt: undefined, error: undefined };
    s.setEncoding('latin1');
    s.on('data', (c: string) => (h.data += c));
    s.on('end', () => (h.closedAt ??= Date.now()));
    s.on('close', () => (h.closedAt ??= Date.now()));
    s.on('error', (e: NodeJS.ErrnoException) => (h.error ??= e.code ?? e.message));
    s.once('connect', () => {
      if (opts.endWith !== undefined) s.end(opts.endWith);
      resolve(h);
    });
    s.once('error', reject);
  });
}

async function holdMany(port: number, n: number, batch = 250, opts: HoldOptions = {}): Promise<Held[]> {
  const out: Held[] = [];
  while (out.length < n) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(batch, n - out.length) }, () => hold(port, opts)))));
  }
  return out;
}

async function until(check: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(50);
  }
  return check();
}

t.test('5,000 idle connections, then the cap: over it refused at once, those held still answered', async (t) => {
  // Every idle connection costs this process one descriptor and the daemon one; keep room for both.
  const limit = openFilesLimit();
  const want = 5000;
  // This process holds up to cap + 200 (idle × 1.2 + 200) at once, plus a few for the probes.
  const idle = Math.min(want, Math.floor((limit - 400) / 1.2));
  if (idle < want) t.comment(`open-files limit ${limit}: ${idle} idle connections instead of ${want}`);
  if (idle < 500) {
    t.plan(0, `open-files limit ${limit} is too low for this test`);
    return;
  }
  const cap = idle + Math.min(1000, Math.floor(idle / 5));
  // A long read timeout keeps idle connections idle (the default would answer them after 100 ms).
  const agent = await seeded(t, ['--max-connections', String(cap), '--read-timeout', '10s']);
  const rssBefore = rssMb(agent.proc.pid as number);
  const normal = normalProbes(agent.agentPort);
  const started = Date.now();
  const held = await holdMany(agent.agentPort, idle);
  t.comment(`${idle} idle connections open in ${Date.now() - started} ms`);
  t.ok(
    await until(async () => (metricValue(await metrics(agent), `${M}agent_connections`) ?? 0) >= idle, DEADLINE_MS),
    'the daemon holds them all',
  );
  const during = await normal.stop();
  const rssDuring = rssMb(agent.proc.pid as number);
  t.comment(
    `normal probes during the idle storm: ${during.n}, p50 ${during.p50} ms, max ${during.max} ms; ` +
      `daemon RSS ${rssBefore.toFixed(1)} → ${rssDuring.toFixed(1)} MB`,
  );
  t.same(during.wrong, [], 'every normal probe answered correctly');
  t.ok(
    rssDuring < RSS_LIMIT_MB && rssDuring - rssBefore < RSS_GROWTH_LIMIT_MB,
    `RSS bounded (${rssBefore.toFixed(1)} → ${rssDuring.toFixed(1)} MB)`,
  );

  // Fill up to the cap; everything beyond it is closed at once without a reply, and counted.
  held.push(...(await holdMany(agent.agentPort, cap - idle)));
  t.ok(
    await until(async () => (metricValue(await metrics(agent), `${M}agent_connections`) ?? 0) >= cap, DEADLINE_MS),
    'at the cap',
  );
  const refusedStart = Date.now();
  // Closed at once, not after a read deadline: the 10 s --read-timeout would outlast this probe timeout.
  const over = await Promise.all(
    Array.from({ length: 200 }, () =>
      probe(agent.agentPort, { send: WEB, timeoutMs: 9000 }).catch((e: NodeJS.ErrnoException) =>
        e.code === 'ECONNRESET' ? '' : `error: ${e.message}`,
      ),
    ),
  );
  t.same([...new Set(over)], [''], 'over the cap: closed without a reply');
  t.comment(`200 over the cap refused in ${Date.now() - refusedStart} ms`);
  t.ok(
    (metricValue(await metrics(agent), `${M}probe_rejections_total{reason="over_capacity"}`) ?? 0) >= 200,
    'refusals counted',
  );

  // Those already admitted are not starved: they send their line now and get their answer.
  const sample = held.slice(0, 200);
  const answeredStart = Date.now();
  for (const h of sample) h.s.write(API);
  t.ok(
    await until(() => sample.every((h) => h.closedAt !== undefined), DEADLINE_MS),
    'every admitted connection answered',
  );
  t.same([...new Set(sample.map((h) => h.data))], ['ready up 50%\n'], 'with the right answer');
  t.comment(
    '200 admitted connections answered in ' +
      `${Math.max(...sample.map((h) => (h.closedAt ?? Infinity) - answeredStart))} ms while at the cap`,
  );

  for (const h of held) h.s.destroy();
  t.ok(
    await until(async () => (metricValue(await metrics(agent), `${M}agent_connections`) ?? Infinity) <= 1, DEADLINE_MS),
    'all released',
  );
  t.equal(await probe(agent.agentPort, { send: API }), 'ready up 50%\n', 'below the cap again: answered');
  const rssAfter = rssMb(agent.proc.pid as number);
  t.comment(`daemon RSS after: ${rssAfter.toFixed(1)} MB`);
  t.ok(rssAfter < RSS_LIMIT_MB && rssAfter - rssBefore < RSS_GROWTH_LIMIT_MB, 'RSS bounded after the storm');
  t.equal(agent.proc.exitCode, null, 'still running');
});

t.test('slowloris: one byte a second gets the node answer at the read deadline, and is then dropped', async (t) => {
  const agent = await seeded(t, ['--read-timeout', '1s']);
  const normal = normalProbes(agent.agentPort);
  const rssBefore = rssMb(agent.proc.pid as number);
  const n = 200;
  // Trickle "shop/api\n" one byte per second from the start: the line would be complete after 9 s.
  // allowHalfOpen: these clients never close their side, even after the agent's answer and FIN.
  const before = await holdMany(agent.agentPort, n, 250, { allowHalfOpen: true });
  const startedAt = Date.now();
  for (const h of before) h.s.write(API.charAt(0));
  // And clients that send their line at once, get the answer, but never close and keep trickling.
  const after = await holdMany(agent.agentPort, n, 250, { allowHalfOpen: true });
  for (const h of after) h.s.write(WEB);
  let i = 1;
  const ticker = setInterval(() => {
    for (const h of [...before, ...after])
      if (!h.s.destroyed && h.error === undefined) h.s.write(API.charAt(i % API.length));
    i++;
  }, 1000);
  try {
    // Read deadline (1 s) + linger after the answer (1 s), while the trickle goes on: a deadline, generous.
    const answered = await until(() => [...before, ...after].every((h) => h.closedAt !== undefined), DEADLINE_MS);
    const slowest = Math.max(...before.map((h) => (h.closedAt ?? Infinity) - startedAt));
    t.ok(answered, `every slow client answered and sent the agent's FIN (slowest after ${slowest} ms)`);
    t.same(
      [...new Set(before.map((h) => h.data))],
      ['ready up 100%\n'],
      'an unfinished line at the read deadline: the node answer',
    );
    t.same([...new Set(after.map((h) => h.data))], ['ready up 100%\n'], 'a finished line: its answer');
    const released = Date.now();
    t.ok(
      await until(
        async () => (metricValue(await metrics(agent), `${M}agent_connections`) ?? Infinity) <= 1,
        DEADLINE_MS,
      ),
      'still trickling, yet dropped after the linger time',
    );
    t.comment(
      `slowloris: ${2 * n} slow clients, answered within ${slowest} ms, ` +
        `all released ${Date.now() - startedAt} ms after the start ` +
        `(${Date.now() - released} ms after the answers)`,
    );
  } finally {
    clearInterval(ticker);
  }
  const m = await metrics(agent);
  t.ok(
    (metricValue(m, `${M}probe_rejections_total{reason="malformed"}`) ?? 0) >= n,
    'unfinished lines counted as malformed',
  );
  const r = await normal.stop();
  t.comment(
    `slowloris: normal probes meanwhile: ${r.n}, p50 ${r.p50} ms, max ${r.max} ms; ` +
      `RSS ${rssBefore.toFixed(1)} → ${rssMb(agent.proc.pid as number).toFixed(1)} MB`,
  );
  t.same(r.wrong, []);
  for (const h of [...before, ...after]) h.s.destroy();
});

t.test('1 MB without a newline, many at once: node answer, bounded memory', async (t) => {
  // A long read deadline, so only the byte count decides: on a loaded machine a connection whose
  // first chunk came after the default 100 ms would be answered (and counted) as an unfinished line.
  const agent = await seeded(t, ['--read-timeout', '10s']);
  const normal = normalProbes(agent.agentPort);
  const rssBefore = rssMb(agent.proc.pid as number);
  const big = Buffer.alloc(1 << 20, 0x61);
  const n = 32;
  const answers = await Promise.all(
    Array.from({ length: n }, () =>
      probe(agent.agentPort, { send: big, timeoutMs: 10_000 }).catch((e: Error) => `error: ${e.message}`),
    ),
  );
  t.same([...new Set(answers)], ['ready up 100%\n'], 'each answered for the node');
  const m = await metrics(agent);
  t.ok((metricValue(m, `${M}probe_rejections_total{reason="too_long"}`) ?? 0) >= n, 'counted as too long');
  const rssAfter = rssMb(agent.proc.pid as number);
  const r = await normal.stop();
  t.comment(
    `${n} × 1 MiB: RSS ${rssBefore.toFixed(1)} → ${rssAfter.toFixed(1)} MB; ` +
      `normal probes ${r.n}, p50 ${r.p50} ms, max ${r.max} ms`,
  );
  t.ok(rssAfter - rssBefore < 64, 'the bytes are not kept (RSS grew by less than 64 MB for 32 MiB sent)');
  t.same(r.wrong, []);
});

/** The seeded Services' answers (neither key starts the other). */
const ANSWERS: Record<string, string> = { 'shop/web': 'ready up 100%\n', 'shop/api': 'ready up 50%\n' };

type Expected = { reply: string; reason?: 'malformed' | 'too_long' | 'unknown_service' };

/** What the agent must answer for these bytes (the README's rules, with parseRequestLine as the spec). */
function expectedReply(bytes: Buffer, halfClose: boolean): Expected {
  const node = 'ready up 100%\n';
  const nl = bytes.indexOf(10);
  let line: string;
  if (nl !== -1 && nl <= 256) line = bytes.toString('latin1', 0, nl);
  else if (bytes.length > 256) return { reply: node, reason: 'too_long' };
  else if (halfClose) line = bytes.toString('latin1');
  else {
    // Read deadline. Exactly a known key without its newline (a runtime-added server's agent-send): its answer.
    const key = ANSWERS[bytes.toString('latin1')];
    if (key !== undefined) return { reply: key };
    return { reply: node, ...(bytes.length > 0 ? { reason: 'malformed' as const } : {}) };
  }
  const req = parseRequestLine(line);
  if (req.kind === 'node') return { reply: node };
  if (req.kind === 'malformed') return { reply: node, reason: 'malformed' };
  const a = ANSWERS[req.key];
  return a === undefined ? { reply: node, reason: 'unknown_service' } : { reply: a };
}

/**
 * Every answer the rules allow for a case. Bytes read so far without a newline that are exactly a
 * known key (that no longer key starts with) are answered at once, so when a piece ends exactly
 * there and the agent reads it on its own, that key's answer is right too; whether two pieces
 * arrive in one read is up to the scheduler. HAProxy sends its agent-send in one write.
 */
function expectedReplies(c: FuzzCase): Expected[] {
  const out = [expectedReply(c.bytes, c.halfClose)];
  for (const cut of c.cuts.slice(1, -1)) {
    const head = c.bytes.subarray(0, cut);
    const key = ANSWERS[head.toString('latin1')];
    if (key !== undefined && !head.includes(10) && cut < c.bytes.length) out.push({ reply: key });
  }
  return out;
}

interface FuzzCase {
  bytes: Buffer;
  halfClose: boolean;
  /** Offsets where the bytes are cut into separate writes, and the pause (ms) after each piece. */
  cuts: number[];
  pauses: number[];
}

/** The cases, all drawn up front so every run sends exactly the same bytes in the same pieces. */
function fuzzCases(seed: number, n: number): FuzzCase[] {
  const rand = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const alphabet = Buffer.from('abcdefghijklmnopqrstuvwxyz0123456789-/ \t\r\n\0\xff.ABC_%', 'latin1');
  const fragments = [
    'shop/web',
    'shop/api',
    'shop/nope',
    ' shop/web ',
    'shop/web\r',
    '\tshop/api',
    'Shop/web',
    'shop//web',
    '/web',
    'shop/',
    '-shop/web',
    'shop/web-',
    `${'a'.repeat(63)}/b`,
    `${'a'.repeat(64)}/b`,
    '',
  ];
  const out: FuzzCase[] = [];
  for (let k = 0; k < n; k++) {
    // A known fragment, random bytes, or a mix; usually a newline; now and then a long run.
    const parts: Buffer[] = [];
    const shape = rand();
    if (shape < 0.4) parts.push(Buffer.from(pick(fragments), 'latin1'));
    if (shape >= 0.25) {
      const len = rand() < 0.1 ? 200 + Math.floor(rand() * 400) : Math.floor(rand() * 40);
      const b = Buffer.alloc(len);
      for (let i = 0; i < len; i++)
        b[i] = rand() < 0.5 ? (alphabet[Math.floor(rand() * alphabet.length)] as number) : Math.floor(rand() * 256);
      parts.push(b);
    }
    if (rand() < 0.7) parts.push(Buffer.from('\n'));
    if (rand() < 0.3) parts.push(Buffer.from(`${pick(fragments)}\n`, 'latin1'));
    const bytes = Buffer.concat(parts);
    const halfClose = rand() < 0.3;
    const inner = Array.from({ length: Math.floor(rand() * 4) }, () => Math.floor(rand() * (bytes.length + 1))).sort(
      (a, b) => a - b,
    );
    const cuts = [0, ...inner, bytes.length];
    out.push({ bytes, halfClose, cuts, pauses: cuts.map(() => Math.floor(rand() * 4)) });
  }
  return out;
}

t.test('random bytes: a fixed-seed fuzz loop, every answer as the rules say', async (t) => {
  // A read deadline well above the few milliseconds between pieces, even on a loaded machine.
  const agent = await seeded(t, ['--read-timeout', '1s']);
  const cases = fuzzCases(0x5eed1e, 600);
  const rssBefore = rssMb(agent.proc.pid as number);
  const before = await metrics(agent);
  const failures: string[] = [];
  // Counted for sure (every allowed answer has the reason) and at most (some allowed answer has it).
  const reasons: Record<NonNullable<Expected['reason']>, { least: number; most: number }> = {
    malformed: { least: 0, most: 0 },
    too_long: { least: 0, most: 0 },
    unknown_service: { least: 0, most: 0 },
  };
  const runCase = async (k: number): Promise<void> => {
    const c = cases[k] as FuzzCase;
    const allowed = expectedReplies(c);
    for (const [reason, n] of Object.entries(reasons)) {
      if (allowed.every((w) => w.reason === reason)) n.least++;
      if (allowed.some((w) => w.reason === reason)) n.most++;
    }
    const got = await new Promise<string>((resolve) => {
      const s = connect({ host: '127.0.0.1', port: agent.agentPort });
      let out = '';
      const timer = setTimeout(() => {
        s.destroy();
        resolve(`${out}[no close within ${DEADLINE_MS} ms]`);
      }, DEADLINE_MS);
      s.setEncoding('latin1');
      s.on('data', (d: string) => (out += d));
      s.on('close', () => {
        clearTimeout(timer);
        resolve(out);
      });
      s.on('error', () => undefined);
      s.on('connect', async () => {
        for (let i = 0; i + 1 < c.cuts.length; i++) {
          if (s.destroyed) return;
          s.write(c.bytes.subarray(c.cuts[i], c.cuts[i + 1]));
          if (i + 2 < c.cuts.length) await sleep(c.pauses[i] as number);
        }
        if (c.halfClose && !s.destroyed) s.end();
      });
    });
    if (!allowed.some((w) => w.reply === got))
      failures.push(
        `case ${k}: sent ${JSON.stringify(c.bytes.toString('latin1').slice(0, 80))}` +
          ` (${c.bytes.length} bytes${c.halfClose ? ', half-closed' : ''}): ` +
          `got ${JSON.stringify(got)}, want ${allowed.map((w) => JSON.stringify(w.reply)).join(' or ')}`,
      );
  };
  // 24 cases in flight at a time.
  let next = 0;
  await Promise.all(
    Array.from({ length: 24 }, async () => {
      while (next < cases.length) await runCase(next++);
    }),
  );
  t.same(failures.slice(0, 10), [], `all ${cases.length} cases answered as the rules say`);
  const after = await metrics(agent);
  for (const [reason, { least, most }] of Object.entries(reasons)) {
    const sample = `${M}probe_rejections_total{reason="${reason}"}`;
    const n = (metricValue(after, sample) ?? 0) - (metricValue(before, sample) ?? 0);
    t.ok(n >= least && n <= most, `${n} counted as ${reason} (${least}..${most})`);
  }
  t.equal(await probe(agent.agentPort, { send: API }), 'ready up 50%\n', 'still serving');
  const rssAfter = rssMb(agent.proc.pid as number);
  t.comment(
    `fuzz: ${cases.length} cases (${JSON.stringify(reasons)}), ` +
      `RSS ${rssBefore.toFixed(1)} → ${rssAfter.toFixed(1)} MB`,
  );
  t.ok(rssAfter < RSS_LIMIT_MB && rssAfter - rssBefore < RSS_GROWTH_LIMIT_MB, 'RSS bounded');
  t.equal(agent.proc.exitCode, null, 'no crash');
});

t.test('half-closed sockets: answered without waiting for the read deadline', async (t) => {
  // A read deadline far beyond the probes' own timeout: an answer proves it was not waited for.
  // The longest read deadline the agent accepts; the probes give up before it passes.
  const agent = await seeded(t, ['--read-timeout', '10s']);
  const beforeDeadline = 9_000;
  // Half-close right after the bytes, without a newline: those bytes are the line.
  t.equal(await probe(agent.agentPort, { send: 'shop/api', end: true, timeoutMs: beforeDeadline }), 'ready up 50%\n');
  // Half-close with nothing sent: the node answer.
  t.equal(await probe(agent.agentPort, { end: true, timeoutMs: beforeDeadline }), 'ready up 100%\n');
});

t.test('half-closed sockets by the thousand; clients that never finish closing are dropped', async (t) => {
  // The b clients below get the node answer at the read deadline. The a clients and the normal
  // probes send their line as soon as they connect, but this process opens 2,000 connections
  // meanwhile: on a busy machine "as soon as" can pass the default 100 ms, and a probe that sends
  // nothing in time rightly gets the node answer. A deadline such a client cannot miss.
  const agent = await seeded(t, ['--read-timeout', `${Math.min(10_000, deadline(2000))}ms`]);

  const normal = normalProbes(agent.agentPort);
  const n = 1000;
  // Clients that half-close after their line but never read and never close their side...
  const a = await holdMany(agent.agentPort, n, 250, { allowHalfOpen: true, endWith: API });
  // ...and clients that send nothing and never answer the agent's FIN with their own.
  const b = await holdMany(agent.agentPort, n, 250, { allowHalfOpen: true });
  t.ok(
    await until(() => [...a, ...b].every((h) => h.closedAt !== undefined), DEADLINE_MS),
    'every one got its answer and the agent FIN',
  );
  t.same([...new Set(a.map((h) => h.data))], ['ready up 50%\n']);
  t.same([...new Set(b.map((h) => h.data))], ['ready up 100%\n']);
  // Our side of b stays open; the agent must let go of them anyway (after its linger time).
  t.ok(
    await until(async () => (metricValue(await metrics(agent), `${M}agent_connections`) ?? Infinity) <= 1, DEADLINE_MS),
    'the agent released the half-open connections',
  );
  const r = await normal.stop();
  t.comment(
    `half-closed: ${2 * n} clients; normal probes ${r.n}, p50 ${r.p50} ms, max ${r.max} ms; ` +
      `RSS ${rssMb(agent.proc.pid as number).toFixed(1)} MB`,
  );
  t.same(r.wrong, []);
  for (const h of [...a, ...b]) h.s.destroy();
});
