// cliCommand(s) against in-process UNIX sockets that answer with bytes captured from HAProxy 2.6.12
// (test/fixtures/haproxy/prompt-*.txt): replies kept apart by the prompt, errors that name the socket.
import t, { type Test } from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { cliCommand, cliCommands, MAX_REPLY_BYTES } from '../../src/haproxy/cli-socket.js';
import { tempDir } from '../lib/spawn.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'haproxy');
const fixture = (name: string): string => readFileSync(join(FIXTURES, name), 'utf8');

/** A UNIX socket whose `answer` gets everything the client sent once it half-closes. */
async function fakeSocket(t: Test, answer: (request: string, sock: Socket) => void): Promise<string> {
  const path = join(tempDir(t), 'cli.sock');
  const requests: string[] = [];
  // Half-open, like HAProxy: the client's end does not close our side before we answer.
  const open = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (sock) => {
    open.add(sock);
    sock.on('close', () => open.delete(sock));
    let request = '';
    sock.setEncoding('utf8');
    sock.on('data', (c: string) => (request += c));
    sock.on('end', () => {
      requests.push(request);
      answer(request, sock);
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(path, r));
  t.teardown(() => {
    for (const s of open) s.destroy();
    return new Promise((r) => server.close(r));
  });
  return path;
}

t.test('one command: written with its newline, the whole reply returned', async (t) => {
  let seen = '';
  const path = await fakeSocket(t, (req, sock) => {
    seen = req;
    sock.end('2.6.12-1+deb12u4\n\n');
  });
  t.equal(await cliCommand(path, 'show version'), '2.6.12-1+deb12u4\n\n');
  t.equal(seen, 'show version\n');
});

t.test('several commands in prompt mode: one reply per command, as cliCommand would return it', async (t) => {
  let seen = '';
  const stats = await fakeSocket(t, (req, sock) => {
    seen = req;
    sock.end(fixture('prompt-stats.txt'));
  });
  const replies = await cliCommands(stats, [
    'show servers state be',
    'set server be/s1 state drain',
    'del server be/nope',
  ]);
  t.equal(seen, 'prompt\nshow servers state be\nset server be/s1 state drain\ndel server be/nope\nquit\n');
  t.equal(replies.length, 3);
  t.match(replies[0], /^1\n# be_id be_name .*\n3 be 1 s1 .*\n3 be 2 s2 .*\n\n$/s);
  t.equal(replies[1], '\n');
  t.equal(replies[2], 'No such server.\n');

  const master = await fakeSocket(t, (_req, sock) => sock.end(fixture('prompt-master.txt')));
  const m = await cliCommands(master, ['show version', '@1 set server be/s1 state ready', 'show proc']);
  t.equal(m[0], '2.6.12-1+deb12u4\n\n');
  t.equal(m[1], '\n');
  t.match(m[2], /^#<PID> .*\n# programs\n\n$/s);
  t.same(await cliCommands(master, []), [], 'no commands, no connection');
});

t.test('a reply count that does not match the commands is an error, not a shifted answer', async (t) => {
  const path = await fakeSocket(t, (_req, sock) => sock.end(fixture('prompt-stats.txt')));
  await t.rejects(cliCommands(path, ['show servers state be', 'set server be/s1 state drain']), /expected 2 replies/);
  const noPrompt = await fakeSocket(t, (_req, sock) => sock.end('Unknown command\n'));
  await t.rejects(cliCommands(noPrompt, ['show info']), /no prompt/);
});

t.test('a newline or ";" in a command is refused before anything is sent', async (t) => {
  await t.rejects(cliCommand('/nonexistent', 'show stat;shutdown sessions'), /newline or ';'/);
  await t.rejects(cliCommands('/nonexistent', ['show info', 'x\ny']), /newline or ';'/);
});

t.test('errors name the socket and the cause', async (t) => {
  const dir = tempDir(t);
  await t.rejects(cliCommand(join(dir, 'missing.sock'), 'show info'), {
    message: new RegExp(`${join(dir, 'missing.sock')}: no such socket \\(ENOENT`),
  });
  // connect() to a file that is not a socket is refused, as a socket nobody listens on is.
  writeFileSync(join(dir, 'stale.sock'), '');
  await t.rejects(cliCommand(join(dir, 'stale.sock'), 'show info'), /stale\.sock: connection refused \(ECONNREFUSED/);
  const silent = await fakeSocket(t, () => {});
  await t.rejects(
    cliCommand(silent, 'show info', 100),
    /cli\.sock: no complete reply within 100ms \(sending "show info"\)/,
  );
});

t.test('a runaway reply is cut off at the cap', async (t) => {
  const chunk = Buffer.alloc(1 << 20, 0x41);
  const path = await fakeSocket(t, (_req, sock) => {
    const write = (n: number): void => {
      if (n === 0 || sock.destroyed) return void sock.destroy();
      sock.write(chunk, () => write(n - 1));
    };
    write((MAX_REPLY_BYTES >> 20) + 2);
  });
  await t.rejects(cliCommand(path, 'show stat', 30_000), /reply larger than 67108864 bytes/);
});
