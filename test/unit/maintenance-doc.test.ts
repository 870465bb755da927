// docs/maintenance.md's wait-drained flag table is the operator's contract: same flags, order and
// defaults as `wait-drained --help` (WAIT_FLAGS).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WAIT_FLAGS } from '../../src/wait-drained/cli.js';

const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'maintenance.md'), 'utf8');

t.test('wait-drained flag table = the flags wait-drained parses', async (t) => {
  const lines = doc.split('\n');
  const at = lines.findIndex((l) => l.startsWith('| wait-drained flag |'));
  t.not(at, -1, 'the table is there');
  const rows: string[][] = [];
  for (let i = at + 2; i < lines.length && lines[i]?.startsWith('|'); i++)
    rows.push(
      (lines[i] as string)
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim().replace(/^`|`$/g, '')),
    );
  const flags = WAIT_FLAGS.filter((f) => f.name !== 'help');
  t.same(
    rows.map((r) => r[0]),
    flags.map((f) => `--${f.name}`),
    'same flags, same order',
  );
  for (const f of flags) {
    const r = rows.find((x) => x[0] === `--${f.name}`);
    t.equal(r?.[1], f.default === '' ? '—' : f.default, `--${f.name} default`);
  }
});
