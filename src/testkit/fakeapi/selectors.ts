/** Label and field selector parsing and matching, following apimachinery's grammar. */
import { errors } from './errors.js';
import { getPath } from './json.js';

export type LabelOperator = 'exists' | '!' | '=' | '!=' | 'in' | 'notin' | 'gt' | 'lt';

export interface LabelRequirement {
  readonly key: string;
  readonly operator: LabelOperator;
  readonly values: readonly string[];
}

export type FieldOperator = '=' | '!=';

export interface FieldRequirement {
  readonly field: string;
  readonly operator: FieldOperator;
  readonly value: string;
}

// ---------------------------------------------------------------- labels

type Token =
  | { kind: 'ident'; text: string }
  | { kind: 'op'; text: '!' | '=' | '==' | '!=' | '>' | '<' | '(' | ')' | ',' }
  | { kind: 'in' | 'notin' }
  | { kind: 'end' };

const SPECIAL = new Set(['!', '=', '>', '<', '(', ')', ',']);
const WHITESPACE = /\s/;

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input.charAt(i);
    if (WHITESPACE.test(c)) {
      i++;
    } else if (c === '!' || c === '=') {
      if (input.charAt(i + 1) === '=') {
        tokens.push({ kind: 'op', text: c === '!' ? '!=' : '==' });
        i += 2;
      } else {
        tokens.push({ kind: 'op', text: c });
        i++;
      }
    } else if (SPECIAL.has(c)) {
      tokens.push({ kind: 'op', text: c as '>' | '<' | '(' | ')' | ',' });
      i++;
    } else {
      let j = i;
      while (j < input.length && !SPECIAL.has(input.charAt(j)) && !WHITESPACE.test(input.charAt(j))) j++;
      const text = input.slice(i, j);
      tokens.push(text === 'in' || text === 'notin' ? { kind: text } : { kind: 'ident', text });
      i = j;
    }
  }
  tokens.push({ kind: 'end' });
  return tokens;
}

const NAME_PART = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function validateKey(key: string): void {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : '';
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  const prefixOk = slash < 0 || (prefix.length <= 253 && DNS_SUBDOMAIN.test(prefix));
  if (!prefixOk || name.length > 63 || !NAME_PART.test(name)) {
    throw errors.badRequest(`unable to parse requirement: invalid label key "${key}"`);
  }
}

function validateValue(value: string): void {
  if (value.length > 63 || !LABEL_VALUE.test(value)) {
    throw errors.badRequest(`unable to parse requirement: invalid label value: "${value}"`);
  }
}

/** Parses `a=b,c!=d,e in (f,g),!h,i`. An empty string selects everything. */
export function parseLabelSelector(input: string): LabelRequirement[] {
  const tokens = tokenize(input);
  let pos = 0;
  const peek = (): Token => tokens[pos] ?? { kind: 'end' };
  const next = (): Token => tokens[pos++] ?? { kind: 'end' };
  const fail = (what: string): never => {
    throw errors.badRequest(`unable to parse requirement: ${what} in selector "${input}"`);
  };
  const ident = (): string => {
    const t = next();
    return t.kind === 'ident' ? t.text : fail('expected identifier');
  };
  const optionalValue = (): string => {
    const t = peek();
    if (t.kind === 'ident') {
      pos++;
      return t.text;
    }
    return ''; // `key=` selects an empty value
  };

  const reqs: LabelRequirement[] = [];
  if (peek().kind === 'end') return reqs;
  for (;;) {
    const first = peek();
    let req: LabelRequirement;
    if (first.kind === 'op' && first.text === '!') {
      pos++;
      const key = ident();
      validateKey(key);
      req = { key, operator: '!', values: [] };
    } else {
      const key = ident();
      validateKey(key);
      const op = peek();
      if (op.kind === 'end' || (op.kind === 'op' && op.text === ',')) {
        req = { key, operator: 'exists', values: [] };
      } else if (op.kind === 'op' && (op.text === '=' || op.text === '==' || op.text === '!=')) {
        pos++;
        const value = optionalValue();
        validateValue(value);
        req = { key, operator: op.text === '!=' ? '!=' : '=', values: [value] };
      } else if (op.kind === 'op' && (op.text === '>' || op.text === '<')) {
        pos++;
        const value = ident();
        if (!/^-?\d+$/.test(value)) fail(`for 'gt', 'lt' operators, the value must be an integer`);
        req = { key, operator: op.text === '>' ? 'gt' : 'lt', values: [value] };
      } else if (op.kind === 'in' || op.kind === 'notin') {
        pos++;
        const open = next();
        if (open.kind !== 'op' || open.text !== '(') fail(`expected '(' after ${op.kind}`);
        const values: string[] = [];
        for (;;) {
          const value = optionalValue();
          validateValue(value);
          values.push(value);
          const sep = next();
          if (sep.kind === 'op' && sep.text === ')') break;
          if (sep.kind !== 'op' || sep.text !== ',') fail(`expected ',' or ')'`);
        }
        req = { key, operator: op.kind, values };
      } else {
        return fail('found unexpected token');
      }
    }
    reqs.push(req);
    const sep = next();
    if (sep.kind === 'end') return reqs;
    if (sep.kind !== 'op' || sep.text !== ',') fail(`expected ','`);
  }
}

function matchRequirement(req: LabelRequirement, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.hasOwn(labels, req.key);
  const value = has ? labels[req.key] : undefined;
  switch (req.operator) {
    case 'exists':
      return has;
    case '!':
      return !has;
    case '=':
      return has && value === req.values[0];
    case '!=':
      return !has || value !== req.values[0];
    case 'in':
      return has && req.values.includes(value ?? '');
    case 'notin':
      return !has || !req.values.includes(value ?? '');
    case 'gt':
    case 'lt': {
      if (!has || !/^-?\d+$/.test(value ?? '')) return false;
      const n = Number(value);
      const bound = Number(req.values[0]);
      return req.operator === 'gt' ? n > bound : n < bound;
    }
  }
}

export function matchLabels(
  reqs: readonly LabelRequirement[],
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  const l = labels ?? {};
  return reqs.every((r) => matchRequirement(r, l));
}

// ---------------------------------------------------------------- fields

/** Splits on `sep` characters that are not backslash-escaped. */
function splitUnescaped(input: string, sep: string): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < input.length; i++) {
    const c = input.charAt(i);
    if (c === '\\' && i + 1 < input.length) {
      cur += c + input.charAt(i + 1);
      i++;
    } else if (c === sep) {
      parts.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  parts.push(cur);
  return parts;
}

function unescapeFieldValue(v: string, input: string): string {
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v.charAt(i);
    if (c === '\\') {
      const e = v.charAt(i + 1);
      if (e !== '\\' && e !== ',' && e !== '=' && e !== '!') {
        throw errors.badRequest(`invalid field selector "${input}": invalid escape sequence`);
      }
      out += e;
      i++;
    } else if (c === ',' || c === '=') {
      throw errors.badRequest(`invalid field selector "${input}": unescaped '${c}' in value`);
    } else {
      out += c;
    }
  }
  return out;
}

/** Finds the first unescaped operator; `!=` and `==` win over `=` at the same spot. */
function findOperator(term: string): { index: number; op: string } | undefined {
  for (let i = 0; i < term.length; i++) {
    const c = term.charAt(i);
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '!' && term.charAt(i + 1) === '=') return { index: i, op: '!=' };
    if (c === '=') return { index: i, op: term.charAt(i + 1) === '=' ? '==' : '=' };
  }
  return undefined;
}

/** Parses `metadata.name=x,spec.type!=NodePort`. An empty string selects everything. */
export function parseFieldSelector(input: string): FieldRequirement[] {
  if (input.trim() === '') return [];
  return splitUnescaped(input, ',').map((term) => {
    const found = findOperator(term);
    if (!found) throw errors.badRequest(`invalid field selector "${input}": '${term}' is not a valid term`);
    const field = term.slice(0, found.index).trim();
    if (field === '') throw errors.badRequest(`invalid field selector "${input}": empty field name`);
    const value = unescapeFieldValue(term.slice(found.index + found.op.length), input);
    return { field, operator: found.op === '!=' ? '!=' : '=', value };
  });
}

function fieldValue(obj: unknown, field: string): string {
  const v = getPath(obj, field);
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean' || typeof v === 'number') return String(v);
  return JSON.stringify(v);
}

export function matchFields(reqs: readonly FieldRequirement[], obj: unknown): boolean {
  return reqs.every((r) => (fieldValue(obj, r.field) === r.value) === (r.operator === '='));
}
