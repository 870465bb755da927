// The break-glass override file: "drain", "maint" or "ready" in a local file beats everything,
// and needs no API server. Watched with fs.watch for speed and re-read every second because
// fs.watch misses changes on some filesystems and through some editors' rename-on-save.
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { OperatorState } from './decide.js';

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

export class OverrideWatcher {
  private timer: NodeJS.Timeout | undefined;
  private watcher: FSWatcher | undefined;
  private last = '';
  private reading = false;

  constructor(
    private readonly path: string,
    private readonly onChange: (r: OverrideReading) => void,
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
    let content: string | undefined;
    try {
      content = await readFile(this.path, 'utf8');
    } catch {
      content = undefined; // missing or unreadable: no override
    } finally {
      this.reading = false;
    }
    const key = content ?? '\u0000missing';
    if (key === this.last) return;
    this.last = key;
    this.onChange(parseOverride(content));
  }
}
