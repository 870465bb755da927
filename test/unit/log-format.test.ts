// --log-format: JSON levels are strings; text lines are for people and cannot be forged by tenant text.
import t from 'tap';
import { createLogger, escapeText, textLine } from '../../src/platform/log.js';

t.test('a JSON line as text: time, LEVEL, message, then the fields', async (t) => {
  const line = JSON.stringify({
    level: 'warn',
    time: '2026-01-02T03:04:05.678Z',
    app: 'haproxy-node-agent',
    node: 'n1',
    value: 'heavy weight',
    n: 3,
    ok: false,
    obj: { a: 1 },
    msg: 'annotation rejected',
  });
  t.equal(
    textLine(line),
    '2026-01-02T03:04:05.678Z WARN annotation rejected node=n1 value="heavy weight" n=3 ok=false obj={"a":1}',
  );
});

t.test('tenant text cannot start a new line or reorder it', async (t) => {
  const forged = 'x\n2026-01-01T00:00:00.000Z INFO all good \u202e';
  const out = textLine(JSON.stringify({ level: 'info', time: 'T', msg: forged, value: forged }));
  t.notMatch(out, /[\n\r\u202e]/, 'no raw newline or bidi override survives');
  t.match(out, 'x\\u000a2026', 'the newline is shown escaped');
  t.equal(escapeText('plain é text'), 'plain é text', 'printable text (any script) unchanged');
  t.equal(escapeText('\u0000\u2028'), '\\u0000\\u2028');
});

t.test('an error: its message on the line, its stack indented below', async (t) => {
  const out = textLine(
    JSON.stringify({
      level: 'error',
      time: 'T',
      msg: 'boom',
      err: { message: 'bad', stack: 'Error: bad\n    at f (x.js:1)' },
    }),
  );
  t.equal(out, 'T ERROR boom err=bad\n    at f (x.js:1)');
  t.equal(
    textLine(JSON.stringify({ level: 'error', time: 'T', msg: 'bug', err: 'Error: x\n    at g (y.js:2)' })),
    'T ERROR bug err="Error: x"\n    at g (y.js:2)',
    'a stack logged as a string (unhandled rejections) reads the same',
  );
  t.equal(
    textLine(JSON.stringify({ level: 'warn', time: 'T', msg: 'm', err: 'GET /x: refused' })),
    'T WARN m err="GET /x: refused"',
  );
  t.equal(
    textLine(JSON.stringify({ level: 'warn', time: 'T', msg: 'm', err: 'bad value "x\n2026 INFO ok"' })),
    'T WARN m err="bad value \\"x\\n2026 INFO ok\\""',
    'a message with a newline that is not a stack stays on its line',
  );
  t.equal(textLine('not json\n'), 'not json', 'a line that is not JSON passes through, escaped');
});

t.test(
  'both formats build a logger at the level asked (silent here: the text and JSON lines are tested above)',
  async (t) => {
    for (const format of ['json', 'text'] as const) {
      const log = createLogger('silent', format);
      t.equal(log.level, 'silent', format);
      log.info('not written');
    }
  },
);
