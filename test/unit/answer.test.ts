// The interned answer (src/core/answer.ts): one frozen object per distinct reply, carrying what
// every reader needs, so nothing downstream re-parses bytes.
import t from 'tap';
import { AnswerInterner } from '../../src/core/answer.js';

t.test('one Answer per distinct reply; one Buffer per distinct text', async (t) => {
  const answers = new AnswerInterner();
  const a = answers.intern({ kind: 'ready', weight: 40, why: 'node ready' });
  t.equal(answers.intern({ kind: 'ready', weight: 40, why: 'node ready' }), a, 'the same reply: the same object');
  const b = answers.intern({ kind: 'ready', weight: 40, why: 'node annotation state=ready' });
  t.not(b, a, 'another why: another Answer (a changed why is a change the operator is told)');
  t.equal(b.bytes, a.bytes, 'but the same text shares one Buffer');
  t.not(answers.intern({ kind: 'ready', weight: 41, why: 'node ready' }).bytes, a.bytes);
  t.equal(answers.size, 3);
  t.ok(Object.isFrozen(a), 'frozen: shared by every Service that answers it');
});

t.test('kind, group, text and bytes agree', async (t) => {
  const answers = new AnswerInterner();
  const cases = [
    [{ kind: 'ready', weight: 100 }, 'in', 'ready up 100%'],
    [{ kind: 'drain' }, 'out', 'drain'],
    [{ kind: 'maint' }, 'out', 'maint'],
    [{ kind: 'down', text: 'no local endpoints' }, 'out', 'down #no local endpoints'],
    [{ kind: 'none' }, 'none', ''],
  ] as const;
  for (const [reply, group, text] of cases) {
    const a = answers.intern({ ...reply, why: 'w' });
    t.equal(a.kind, reply.kind);
    t.equal(a.group, group, `${reply.kind} is ${group}`);
    t.equal(a.text, text, 'text: the line without its newline');
    t.equal(a.bytes.toString('latin1'), text === '' ? '' : `${text}\n`, 'bytes: the line HAProxy reads');
    t.equal(a.why, 'w');
  }
});

t.test('a down description is one printable line on the wire and in the text', async (t) => {
  const a = new AnswerInterner().intern({ kind: 'down', text: 'bad\nline\r', why: 'w' });
  t.equal(a.bytes.toString('latin1'), 'down #bad line \n');
  t.equal(a.text, 'down #bad line');
});
