// A deliberately tiny template language, so operators can reshape the output without code:
//
//   {{name}}                   the value of `name` (innermost loop item first, then outer scopes)
//   {{#each list}}...{{/each}} the body once per item of `list`; the item's fields become names
//   {{#if name}}...{{/if}}     the body when `name` is a non-empty string, non-zero number, true
//                              or a non-empty list
//   {{! anything }}            a comment, dropped
//
// A line holding nothing but one {{#...}}, {{/...}} or {{!...}} tag (and blanks) leaves no trace in
// the output, so blocks can sit on their own lines. There is no escaping, no expressions, no
// JavaScript: values are plain text that the model has already validated for HAProxy.
// Templates are checked against a shape before rendering, so a misspelt name fails even inside a
// loop over an empty list.

export type Value = string | number | boolean | readonly Scope[];
export interface Scope {
  readonly [name: string]: Value;
}

/** Which names exist: 'text' for strings, numbers and booleans, a nested Shape for a list's items. */
export interface Shape {
  readonly [name: string]: 'text' | Shape;
}

export class TemplateError extends Error {
  constructor(
    readonly line: number,
    detail: string,
  ) {
    super(`line ${line}: ${detail}`);
    this.name = 'TemplateError';
  }
}

type Block = 'each' | 'if';
type Node =
  | { t: 'text'; s: string }
  | { t: 'var'; name: string; line: number }
  | { t: 'block'; kind: Block; name: string; line: number; body: Node[] };

type Token =
  | { t: 'text'; s: string }
  | { t: 'var'; name: string; line: number }
  | { t: 'open'; kind: Block; name: string; line: number }
  | { t: 'close'; kind: Block; line: number }
  | { t: 'comment'; line: number };

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  const re = /\{\{([\s\S]*?)\}\}/g;
  let last = 0;
  let line = 1;
  for (let m = re.exec(src); m !== null; m = re.exec(src)) {
    const before = src.slice(last, m.index);
    out.push({ t: 'text', s: before });
    line += countNewlines(before);
    const inner = (m[1] as string).trim();
    let mm: RegExpExecArray | null;
    if (inner.startsWith('!')) out.push({ t: 'comment', line });
    else if ((mm = /^#(each|if)\s+(\S+)$/.exec(inner)) !== null)
      out.push({ t: 'open', kind: mm[1] as Block, name: checkName(mm[2] as string, line), line });
    else if ((mm = /^\/(each|if)$/.exec(inner)) !== null) out.push({ t: 'close', kind: mm[1] as Block, line });
    else if (NAME.test(inner)) out.push({ t: 'var', name: inner, line });
    else
      throw new TemplateError(
        line,
        `cannot read tag {{${inner}}} ` +
          '(expected {{name}}, {{#each name}}, {{/each}}, {{#if name}}, {{/if}} or {{! comment}})',
      );
    line += countNewlines(m[0]);
    last = m.index + m[0].length;
  }
  const rest = src.slice(last);
  if (rest.includes('{{'))
    throw new TemplateError(line + countNewlines(rest.slice(0, rest.indexOf('{{'))), 'unclosed {{');
  out.push({ t: 'text', s: rest });
  return out;
}

function countNewlines(s: string): number {
  let n = 0;
  for (const ch of s) if (ch === '\n') n++;
  return n;
}

function checkName(name: string, line: number): string {
  if (!NAME.test(name)) throw new TemplateError(line, `"${name}" is not a name`);
  return name;
}

/** Drops the line of every standalone block or comment tag: decided on the untouched text, then applied. */
function trimStandalone(toks: Token[]): void {
  const standalone: number[] = [];
  toks.forEach((tok, i) => {
    if (tok.t === 'text' || tok.t === 'var') return;
    const prev = toks[i - 1];
    const next = toks[i + 1];
    const prevOk =
      prev === undefined || (prev.t === 'text' && (/\n[ \t]*$/.test(prev.s) || (i === 1 && /^[ \t]*$/.test(prev.s))));
    const nextOk =
      next === undefined ||
      (next.t === 'text' && (/^[ \t]*\r?\n/.test(next.s) || (i === toks.length - 2 && /^[ \t]*$/.test(next.s))));
    if (prevOk && nextOk) standalone.push(i);
  });
  for (const i of standalone) {
    const prev = toks[i - 1];
    const next = toks[i + 1];
    if (prev?.t === 'text') prev.s = prev.s.replace(/[ \t]*$/, '');
    if (next?.t === 'text') next.s = next.s.replace(/^[ \t]*(\r?\n|$)/, '');
  }
}

/** A parsed template; parse once, render many times. */
export class Template {
  private readonly nodes: Node[];

  constructor(src: string) {
    const toks = tokenize(src);
    trimStandalone(toks);
    const root: Node[] = [];
    const stack: Array<{ kind: Block; name: string; line: number; body: Node[] }> = [];
    let body = root;
    for (const tok of toks) {
      if (tok.t === 'text') {
        if (tok.s !== '') body.push(tok);
      } else if (tok.t === 'var') body.push(tok);
      else if (tok.t === 'open') {
        const b = { kind: tok.kind, name: tok.name, line: tok.line, body: [] as Node[] };
        body.push({ t: 'block', ...b });
        stack.push(b);
        body = b.body;
      } else if (tok.t === 'close') {
        const open = stack.pop();
        if (open === undefined)
          throw new TemplateError(tok.line, `{{/${tok.kind}}} without a matching {{#${tok.kind} ...}}`);
        if (open.kind !== tok.kind)
          throw new TemplateError(
            tok.line,
            `{{/${tok.kind}}} closes {{#${open.kind} ${open.name}}} from line ${open.line}`,
          );
        body = stack.length === 0 ? root : (stack[stack.length - 1] as (typeof stack)[number]).body;
      }
    }
    const open = stack.pop();
    if (open !== undefined) throw new TemplateError(open.line, `{{#${open.kind} ${open.name}}} is never closed`);
    this.nodes = root;
  }

  /** Throws TemplateError for any name the shape does not have, or used the wrong way. */
  check(shape: Shape): void {
    checkNodes(this.nodes, [shape]);
  }

  render(data: Scope): string {
    const out: string[] = [];
    renderNodes(this.nodes, [data], out);
    return out.join('');
  }
}

function lookupShape(scopes: readonly Shape[], name: string, line: number): 'text' | Shape {
  for (let i = scopes.length - 1; i >= 0; i--) {
    const v = (scopes[i] as Shape)[name];
    if (v !== undefined) return v;
  }
  throw new TemplateError(line, `unknown name "${name}"`);
}

function checkNodes(nodes: readonly Node[], scopes: readonly Shape[]): void {
  for (const n of nodes) {
    if (n.t === 'text') continue;
    const s = lookupShape(scopes, n.name, n.line);
    if (n.t === 'var') {
      if (s !== 'text') throw new TemplateError(n.line, `"${n.name}" is a list; use {{#each ${n.name}}}`);
    } else if (n.kind === 'each') {
      if (s === 'text') throw new TemplateError(n.line, `"${n.name}" is not a list`);
      checkNodes(n.body, [...scopes, s]);
    } else checkNodes(n.body, scopes);
  }
}

function lookup(scopes: readonly Scope[], name: string, line: number): Value {
  for (let i = scopes.length - 1; i >= 0; i--) {
    const v = (scopes[i] as Scope)[name];
    if (v !== undefined) return v;
  }
  throw new TemplateError(line, `unknown name "${name}"`);
}

function renderNodes(nodes: readonly Node[], scopes: readonly Scope[], out: string[]): void {
  for (const n of nodes) {
    if (n.t === 'text') {
      out.push(n.s);
      continue;
    }
    const v = lookup(scopes, n.name, n.line);
    if (n.t === 'var') {
      if (Array.isArray(v)) throw new TemplateError(n.line, `"${n.name}" is a list; use {{#each ${n.name}}}`);
      out.push(String(v));
    } else if (n.kind === 'each') {
      if (!Array.isArray(v)) throw new TemplateError(n.line, `"${n.name}" is not a list`);
      for (const item of v as readonly Scope[]) renderNodes(n.body, [...scopes, item], out);
    } else if (Array.isArray(v) ? v.length > 0 : v !== '' && v !== 0 && v !== false) {
      renderNodes(n.body, scopes, out);
    }
  }
}
