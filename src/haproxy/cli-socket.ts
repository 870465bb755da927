// HAProxy's CLI over a UNIX socket (the stats socket or the master socket): write, read until the
// server closes. One command per connection, or several in interactive ("prompt") mode, whose
// prompt is the only thing that keeps replies apart: in the `a;b` form each reply only ends with
// "\n", and `show stat` or `show servers state` end with a blank line of their own.
import { createConnection } from 'node:net';
import { errorMessage } from '../core/error-message.js';

/** A runaway reply (a huge `show stat`, a wrong socket) stops here instead of eating memory. */
export const MAX_REPLY_BYTES = 64 << 20;

/**
 * The separator between replies in prompt mode: the stats socket prints "\n> ", the master socket
 * "\nmaster> " (and "master> " with no newline before the first reply).
 */
const PROMPT = /\n(?:master)?> /;
const FIRST_PROMPT = /^(?:\n> |master> )/;

/** Sends `command` on a fresh connection; resolves with everything HAProxy wrote before closing. */
export async function cliCommand(socketPath: string, command: string, timeoutMs = 5000): Promise<string> {
  checkCommand(command);
  return exchange(socketPath, `${command}\n`, describe(command), timeoutMs);
}

/**
 * Sends `commands` over one connection in prompt mode; one reply per command, in order, each as
 * `cliCommand` would have returned it alone (the reply plus HAProxy's closing "\n").
 */
export async function cliCommands(
  socketPath: string,
  commands: readonly string[],
  timeoutMs = 5000,
): Promise<string[]> {
  if (commands.length === 0) return [];
  for (const c of commands) checkCommand(c);
  const text = await exchange(
    socketPath,
    `prompt\n${commands.map((c) => `${c}\n`).join('')}quit\n`,
    `${commands.length} commands`,
    timeoutMs,
  );
  const first = FIRST_PROMPT.exec(text);
  if (first === null) throw new Error(`${socketPath}: no prompt in the reply: ${JSON.stringify(text.slice(0, 200))}`);
  const parts = text.slice(first[0].length).split(PROMPT);
  // The last reply is followed by a prompt too; `quit` then closes, after one more bare prompt
  // on the master socket.
  if (parts.length !== commands.length + 1 || !/^(?:master> )?$/.test(parts[commands.length] ?? '-'))
    throw new Error(
      `${socketPath}: expected ${commands.length} replies, read ${parts.length - 1} ` +
        '(a reply holding a prompt line, or the connection closed early)',
    );
  return parts.slice(0, commands.length).map((p) => `${p}\n`);
}

/** A newline or `;` would smuggle in another command (names can come from tenants). */
function checkCommand(command: string): void {
  if (/[\n\r;]/.test(command))
    throw new Error(`refusing a CLI command with a newline or ';': ${JSON.stringify(command)}`);
}

function describe(command: string): string {
  return JSON.stringify(command.length > 60 ? `${command.slice(0, 60)}…` : command);
}

function exchange(socketPath: string, payload: string, what: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ path: socketPath });
    const chunks: Buffer[] = [];
    let size = 0;
    let failure: Error | undefined;
    const fail = (why: string): void => {
      failure ??= new Error(`HAProxy socket ${socketPath}: ${why} (sending ${what})`);
      sock.destroy();
    };
    const timer = setTimeout(() => fail(`no complete reply within ${timeoutMs}ms`), timeoutMs);
    // Half-close after the payload: the master socket, unlike the stats socket, keeps a
    // non-interactive connection open after its answer until the client's end (or `quit`).
    sock.on('connect', () => sock.end(payload));
    sock.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_REPLY_BYTES) return fail(`reply larger than ${MAX_REPLY_BYTES} bytes`);
      chunks.push(c);
    });
    sock.on('error', (err: NodeJS.ErrnoException) => fail(errnoText(err)));
    sock.on('close', () => {
      clearTimeout(timer);
      if (failure !== undefined) reject(failure);
      else resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

function errnoText(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ENOENT':
      return 'no such socket (ENOENT: HAProxy not running, or another path)';
    case 'ECONNREFUSED':
      return 'connection refused (ECONNREFUSED: nobody listening, e.g. the master re-executing on reload)';
    case 'EACCES':
      return 'permission denied (EACCES)';
    default:
      return errorMessage(err);
  }
}
