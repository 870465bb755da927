// The streaming list splitter against JSON.parse as the oracle: random lists full of what breaks
// naive scanners (brackets and quotes inside strings, escapes, multi-byte UTF-8, nested arrays),
// cut into chunks at every kind of boundary, must yield exactly JSON.parse's items.
import t from 'tap';
import { ListSplitter, ListSyntaxError } from '../../src/kube/list-splitter.js';
import { mulberry32 } from '../lib/prng.js';

function split(
  body: Buffer,
  cuts: number[],
  maxItemBytes = 1 << 20,
): { items: unknown[]; oversize: number[]; rest: unknown } {
  const items: unknown[] = [];
  const oversize: number[] = [];
  const s = new ListSplitter(
    { item: (b) => items.push(JSON.parse(b.toString('utf8'))), oversize: (n) => oversize.push(n) },
    maxItemBytes,
  );
  let at = 0;
  for (const c of [...cuts, body.length]) {
    s.push(body.subarray(at, c));
    at = c;
  }
  return { items, oversize, rest: s.end() };
}

const NASTY = [
  '[',
  ']',
  '{',
  '}',
  '"',
  '\\',
  ',',
  ':',
  '\\"',
  '"items":[',
  'é',
  '日本',
  '😀',
  '\n',
  '\u0000',
  ' ',
  'x',
];

function randomValue(rnd: () => number, depth: number): unknown {
  const r = rnd();
  if (depth > 3 || r < 0.3) {
    let s = '';
    const n = Math.floor(rnd() * 8);
    for (let i = 0; i < n; i++) s += NASTY[Math.floor(rnd() * NASTY.length)];
    return s;
  }
  if (r < 0.4) return Math.floor(rnd() * 1e6) - 5e5;
  if (r < 0.45) return null;
  if (r < 0.5) return rnd() < 0.5;
  if (r < 0.7) return Array.from({ length: Math.floor(rnd() * 4) }, () => randomValue(rnd, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = 0; i < Math.floor(rnd() * 4); i++) o[String(randomValue(rnd, 9))] = randomValue(rnd, depth + 1);
  return o;
}

t.test('random lists, random chunking: the same items as JSON.parse, in order', async (t) => {
  const rnd = mulberry32(17);
  for (let round = 0; round < 300; round++) {
    const items = Array.from({ length: Math.floor(rnd() * 6) }, () => ({
      metadata: { name: String(randomValue(rnd, 9)) },
      spec: randomValue(rnd, 0),
    }));
    const doc = { kind: 'List]', apiVersion: 'v1', metadata: { resourceVersion: '7', continue: '"items":[' }, items };
    // Pretty-printed half the time: blanks wherever JSON allows them.
    const text = round % 2 === 0 ? JSON.stringify(doc) : JSON.stringify(doc, null, round % 4 === 1 ? 2 : '\t');
    const body = Buffer.from(text, 'utf8');
    const cuts =
      round % 10 === 0
        ? Array.from({ length: body.length - 1 }, (_, i) => i + 1)
        : Array.from({ length: Math.floor(rnd() * 6) }, () => Math.floor(rnd() * body.length)).sort((a, b) => a - b);
    const got = split(body, cuts);
    t.same(got.items, JSON.parse(text).items, `round ${round}`);
    t.same(got.rest, { ...doc, items: [] }, `round ${round}: envelope`);
  }
});

t.test('items before or after metadata, and a key named items inside an item', async (t) => {
  const text =
    '{"items" : [ {"items":[1,2],"a":"]"} , {"b":{"items":[]}} ],' +
    '"metadata":{"resourceVersion":"9"},"kind":"ServiceList"}';
  const got = split(Buffer.from(text), [3, 9, 10, 11]);
  t.same(got.items, [{ items: [1, 2], a: ']' }, { b: { items: [] } }]);
  t.same(got.rest, { items: [], metadata: { resourceVersion: '9' }, kind: 'ServiceList' });
});

t.test('an item over the cap is skipped and counted; the others still arrive', async (t) => {
  const big = { metadata: { name: 'big' }, blob: 'x'.repeat(5000) };
  const text = JSON.stringify({ metadata: {}, items: [{ metadata: { name: 'a' } }, big, { metadata: { name: 'b' } }] });
  const got = split(Buffer.from(text), [10, 100, 2000, 4000], 1000);
  t.same(got.items, [{ metadata: { name: 'a' } }, { metadata: { name: 'b' } }]);
  t.equal(got.oversize.length, 1);
  t.ok((got.oversize[0] ?? 0) > 5000);
});

t.test('null items is an empty list (the API sends it for nothing)', async (t) => {
  t.same(split(Buffer.from('{"metadata":{},"items":null}'), []).items, []);
});

t.test('broken bodies fail with ListSyntaxError, never hang or return half a list as whole', async (t) => {
  for (const bad of [
    '{"metadata":{}}',
    '{"items":[{"a":1}',
    '{"items":[1,2]}',
    '{"items":["x"]}',
    '{"items":[{"a":"]}',
    '[]',
    'garbage',
    '{"items":[]}}',
    '',
  ]) {
    t.throws(() => split(Buffer.from(bad), []), ListSyntaxError, bad);
  }
});

t.test('an envelope that grows without end is refused', async (t) => {
  const s = new ListSplitter({ item: () => undefined, oversize: () => undefined }, 1000);
  t.throws(() => {
    s.push(Buffer.from('{"metadata":{"x":"'));
    for (let i = 0; i < 20; i++) s.push(Buffer.alloc(100_000, 0x61));
  }, ListSyntaxError);
});
