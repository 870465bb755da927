import t from 'tap';
import { formatReply, parseRequestLine } from '../../src/core/reply.js';
import { parseWeight } from '../../src/kube/parse.js';

t.test('exact bytes of each reply kind', async (t) => {
  t.equal(formatReply({ kind: 'ready', weight: 75 }), 'ready up 75%\n');
  t.equal(formatReply({ kind: 'drain' }), 'drain\n');
  t.equal(formatReply({ kind: 'maint' }), 'maint\n');
  t.equal(formatReply({ kind: 'down', text: 'no local endpoints' }), 'down #no local endpoints\n');
  t.equal(
    formatReply({ kind: 'down', text: 'bad\nline\r' }),
    'down #bad line \n',
    'a description can never break the line',
  );
  t.equal(formatReply({ kind: 'none' }), '');
});

t.test('agent-send lines', async (t) => {
  t.same(parseRequestLine('shop/web'), { kind: 'service', key: 'shop/web' });
  t.same(parseRequestLine('shop/web\r'), { kind: 'service', key: 'shop/web' }, 'CRLF');
  t.same(parseRequestLine('  shop/web \t'), { kind: 'service', key: 'shop/web' }, 'blanks around');
  t.same(parseRequestLine(''), { kind: 'node' });
  t.same(parseRequestLine('\r'), { kind: 'node' });
  t.same(parseRequestLine('a-1/b-2'), { kind: 'service', key: 'a-1/b-2' });
  const malformed = [
    'shop',
    'shop/',
    '/web',
    'shop/web/x',
    'Shop/web',
    'shop/-web',
    'shop-/web',
    'shop web',
    'shop/w_b',
    'shop/wéb',
    `${'a'.repeat(64)}/web`,
    '\u0000/\u0001',
  ];
  for (const line of malformed) t.same(parseRequestLine(line), { kind: 'malformed' }, JSON.stringify(line));
  t.same(parseRequestLine(`${'a'.repeat(63)}/${'b'.repeat(63)}`).kind, 'service', 'longest names');
});

t.test('weight annotation values', async (t) => {
  t.same(parseWeight(undefined), { weight: 100 });
  t.same(parseWeight('25'), { weight: 25 });
  t.same(parseWeight(' 25% '), { weight: 25 });
  t.same(parseWeight('0'), { weight: 0 });
  t.same(parseWeight('256'), { weight: 256 });
  for (const bad of ['', 'lots', '-5', '25.5', '257', '1e2', '0x10', '99999']) {
    const r = parseWeight(bad);
    t.equal(r.weight, 100, `${bad} falls back to 100`);
    t.type(r.error, 'string', `${bad} is reported`);
  }
});
