// The tiny template language: substitution, loops, conditionals, standalone lines, errors.
import t from 'tap';
import { Template, TemplateError, type Shape } from '../../src/edge/template.js';
import { DEFAULT_TEMPLATE, TEMPLATE_SHAPE, haproxyTime, routeCondition } from '../../src/edge/output.js';

const render = (src: string, data: Parameters<Template['render']>[0]): string => new Template(src).render(data);

t.test('names, loops with outer names, conditionals', async (t) => {
  const data = {
    title: 'T',
    port: 9300,
    on: true,
    off: '',
    items: [
      { n: 'a', z: 'z1' },
      { n: 'b', z: '' },
    ],
  };
  t.equal(render('{{title}}:{{ port }}', data), 'T:9300');
  t.equal(render('{{#each items}}[{{n}}@{{port}}]{{/each}}', data), '[a@9300][b@9300]');
  t.equal(render('{{#each items}}{{n}}{{#if z}}({{z}}){{/if}} {{/each}}', data), 'a(z1) b ');
  t.equal(render('{{#if on}}yes{{/if}}{{#if off}}no{{/if}}{{#if items}}!{{/if}}', data), 'yes!');
  t.equal(render('{{#if none}}x{{/if}}', { none: [] }), '');
  t.equal(render('{{#if zero}}x{{/if}}', { zero: 0 }), '');
  t.equal(render('a{{! a comment }}b', {}), 'ab');
});

t.test('a line holding only a block tag leaves no trace', async (t) => {
  const src = 'head\n{{#each items}}\n  line {{n}}\n{{/each}}\n  {{#if off}}\nhidden\n  {{/if}}\n{{! note }}\ntail\n';
  t.equal(render(src, { off: '', items: [{ n: 1 }, { n: 2 }] }), 'head\n  line 1\n  line 2\ntail\n');
  t.equal(render('{{#each items}}\n{{n}}\n{{/each}}', { items: [{ n: 1 }] }), '1\n', 'at the very start and end');
  t.equal(render('x {{#if on}}\ny\n{{/if}}', { on: true }), 'x \ny\n', 'a tag after text is not standalone');
  t.equal(render('a\r\n{{#if on}}\r\nb\r\n{{/if}}\r\n', { on: true }), 'a\r\nb\r\n', 'CRLF');
});

t.test('errors name the line', async (t) => {
  const shape: Shape = { a: 'text', list: { x: 'text' } };
  const bad = (src: string): string => {
    try {
      const tpl = new Template(src);
      tpl.check(shape);
      return 'no error';
    } catch (err) {
      t.ok(err instanceof TemplateError);
      return (err as Error).message;
    }
  };
  t.equal(bad('ok\n{{b}}'), 'line 2: unknown name "b"');
  t.equal(bad('{{#each list}}\n\n{{y}}{{/each}}'), 'line 3: unknown name "y"', 'checked even when the list is empty');
  t.equal(bad('{{list}}'), 'line 1: "list" is a list; use {{#each list}}');
  t.equal(bad('{{#each a}}{{/each}}'), 'line 1: "a" is not a list');
  t.equal(bad('{{#each list}}\n{{/if}}'), 'line 2: {{/if}} closes {{#each list}} from line 1');
  t.equal(bad('\n{{#if a}}'), 'line 2: {{#if a}} is never closed');
  t.equal(bad('{{/each}}'), 'line 1: {{/each}} without a matching {{#each ...}}');
  t.equal(
    bad('{{a b}}'),
    'line 1: cannot read tag {{a b}} ' +
      '(expected {{name}}, {{#each name}}, {{/each}}, {{#if name}}, {{/if}} or {{! comment}})',
  );
  t.equal(bad('x\n{{a'), 'line 2: unclosed {{');
  t.equal(bad('{{#each 9x}}{{/each}}'), 'line 1: "9x" is not a name');
  t.throws(() => new Template('{{b}}').render({}), /line 1: unknown name "b"/, 'render checks too');
});

t.test('the default template fits its shape', async (t) => {
  t.doesNotThrow(() => new Template(DEFAULT_TEMPLATE).check(TEMPLATE_SHAPE));
});

t.test('HAProxy spellings', async (t) => {
  t.equal(haproxyTime(2000), '2s');
  t.equal(haproxyTime(1500), '1500ms');
  t.equal(haproxyTime(60000), '60s');
  t.equal(routeCondition('a.example.com', '/'), '{ req.hdr(host),field(1,:) -i a.example.com }');
  t.equal(
    routeCondition('a.example.com', '/api'),
    '{ req.hdr(host),field(1,:) -i a.example.com } { path /api } ' +
      '|| { req.hdr(host),field(1,:) -i a.example.com } { path_beg /api/ }',
  );
});
