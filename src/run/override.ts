// The break-glass override file: "drain", "maint" or "ready" in a local file beats everything,
// and needs no API server. Watched with fs.watch for speed and re-read every second because
// fs.watch misses changes on some filesystems and through some editors' rename-on-save.
// Reading it must never block or cost memory, whatever sits at the path: opened non-blocking (a
// FIFO returns at once), regular files only, at most MAX_OVERRIDE_BYTES read.
// A file that cannot be read (unreadable, not a regular file, too big) changes nothing: its content is
// unknown, so the last good override stays in force until the file is removed or readable again, as
// answers keep the last known truth while the API server is away. A file we can read that says
// something else is an explicit statement we reject: no override, logged and counted (documented).
import { constants, watch, type FSWatcher } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { OperatorState } from '../core/views.js';

export type OverrideReading =
  | { kind: 'none' }
  | { kind: 'state'; state: OperatorState }
  | { kind: 'invalid'; content: string };

/** File content → override. Empty or missing = none; case and surrounding blanks ignored. */
export function parseOverride(content: string | undefined): OverrideReading {
  if (content === undefined) return { kind: 'none' };
  const v = content.trim().toLowerCase();
  if (v === '') return { kind: 'none' };
  if (v === 'drain' || v === 'maint' || v === 'ready') return { kind: 'state', state: v };
  return { kind: 'invalid', content: content.trim().slice(0, 64) };
}

/** "drain", "maint" or "ready" with blanks around fit easily; anything longer is not an override. */
export const MAX_OVERRIDE_BYTES = 64;

/** Why the file at the path could not be used (absent is not a failure: it means no override). */
export type OverrideFailure = 'unreadable' | 'not_regular' | 'too_big' | 'error';

type ReadResult = { content: string | undefined } | { failure: OverrideFailure; detail: string };

/** One bounded, non-blocking read of the override file. */
export async function readOverrideFile(path: string): Promise<ReadResult> {
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code === 'ENOENT') return { content: undefined };
    if (code === 'EACCES' || code === 'EPERM')
      return {
        failure: 'unreadable',
        detail: `${code}: no permission to read it (the agent runs as uid ${process.getuid?.() ?? '?'})`,
      };
    return { failure: 'error', detail: `${code} ${(err as Error).message}`.trim() };
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return { failure: 'not_regular', detail: `not a regular file (${fileType(st)})` };
    if (st.size > MAX_OVERRIDE_BYTES)
      return { failure: 'too_big', detail: `${st.size} bytes, over ${MAX_OVERRIDE_BYTES}` };
    const buf = Buffer.alloc(MAX_OVERRIDE_BYTES + 1);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    // It grew between stat and read: still too big, and we read no further than the cap.
    if (bytesRead > MAX_OVERRIDE_BYTES) return { failure: 'too_big', detail: `over ${MAX_OVERRIDE_BYTES} bytes` };
    return { content: buf.subarray(0, bytesRead).toString('utf8') };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    return {
      failure: code === 'EACCES' || code === 'EPERM' ? 'unreadable' : 'error',
      detail: `${code} ${(err as Error).message}`.trim(),
    };
  } finally {
    await fh.close().catch(() => undefined);
  }
}

function fileType(st: {
  isDirectory(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
}): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isDirectory()) return 'a directory';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a file';
}

export class OverrideWatcher {
  private timer: NodeJS.Timeout | undefined;
  private watcher: FSWatcher | undefined;
  private last = '';
  private reading = false;
  private lastFailure = '';
  /**
   * The last override read: drain, maint or ready; undefined once the file is missing, empty or
   * says something else.
   */
  private inForce: OperatorState | undefined;

  constructor(
    private readonly path: string,
    /** The file says something new (once per distinct content), and the override now in force. */
    private readonly onChange: (r: OverrideReading, inForce: OperatorState | undefined) => void,
    /** The file could not be used: called once per distinct failure (again after a good read); inForce stays. */
    private readonly onFailure: (
      reason: OverrideFailure,
      detail: string,
      inForce: OperatorState | undefined,
    ) => void = () => undefined,
    private readonly pollMs = 1000,
  ) {}

  /** Reads once (so the first answer already honours the file), then keeps watching. */
  async start(): Promise<void> {
    await this.read();
    this.timer = setInterval(() => void this.read(), this.pollMs);
    this.timer.unref();
    try {
      this.watcher = watch(dirname(this.path), (_event, name) => {
        if (name === null || name === basename(this.path)) void this.read();
      });
      this.watcher.on('error', () => this.watcher?.close());
      this.watcher.unref();
    } catch {
      // Directory missing or not watchable: the poll still covers it.
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.watcher?.close();
  }

  private async read(): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    let r: ReadResult;
    try {
      r = await readOverrideFile(this.path);
    } finally {
      this.reading = false;
    }
    if ('failure' in r) {
      // Distinct by reason (and errno for odd errors), not by size: a growing file logs once.
      const failure = r.failure === 'error' ? `error ${r.detail}` : r.failure;
      if (failure !== this.lastFailure) {
        this.lastFailure = failure;
        this.onFailure(r.failure, r.detail, this.inForce);
      }
      // Never silent, but not "no override" either: only a missing (or empty) file ends one.
      return;
    }
    this.lastFailure = '';
    const key = r.content ?? '\u0000missing';
    if (key === this.last) return;
    this.last = key;
    const reading = parseOverride(r.content);
    this.inForce = reading.kind === 'state' ? reading.state : undefined;
    this.onChange(reading, this.inForce);
  }
}
