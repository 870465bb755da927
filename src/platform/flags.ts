// A tiny, table-driven flag parser. The tables (see run/run-config.ts) are the single source of truth for
// parsing, `--help`, environment variables and the README's flags table (checked by a test).
import { errorMessage } from '../core/error-message.js';

export interface FlagSpec<K extends string = string> {
  /** Key in the parsed result and the flag name without dashes, e.g. 'agent-port'. */
  name: K;
  /** Environment variable with the same meaning; flags win over the environment. */
  env?: string;
  /** Default as the operator would type it ('' = unset). */
  default: string;
  /** One line for --help and the README. */
  help: string;
  /** A flag that takes no value (e.g. --help). */
  boolean?: boolean;
}

/** How a flag's text becomes its value, and back (to build the argv of another process). */
export interface FlagValue<V> {
  parse(flag: string, text: string): V;
  show(value: V): string;
}

/** A flag that fills one field of a program's config: declared once, row and value together. */
export interface FieldFlag<F extends string = string, V = unknown> extends FlagSpec, FlagValue<V> {
  /** The config field, e.g. 'agentPort' for --agent-port. */
  field: F;
}

/** A row of a flag table: a flag read as raw text (such as --help), or one that fills a config field. */
export type FlagRow = (FlagSpec & { field?: never; parse?: never; show?: never }) | FieldFlag;

type FieldRows<T extends readonly FlagSpec[]> = Extract<
  T[number],
  { field: string; parse: (...a: never[]) => unknown }
>;

/** The config a flag table yields: one field per FieldFlag, typed by what its parser returns. */
export type ConfigOf<T extends readonly FlagSpec[]> = {
  [R in FieldRows<T> as R['field']]: ReturnType<R['parse']>;
};

function isFieldFlag(s: FlagSpec): s is FieldFlag {
  return 'field' in s;
}

/** Every field of the table from raw flag text, parsed in table order (so the first bad flag is the one named). */
export function decodeFlags<T extends readonly FlagSpec[]>(
  specs: T,
  raw: Readonly<Record<string, string>>,
): ConfigOf<T> {
  const out: Record<string, unknown> = {};
  for (const s of specs) if (isFieldFlag(s)) out[s.field] = s.parse(s.name, raw[s.name] ?? s.default);
  return out as ConfigOf<T>;
}

/** parseFlags, then decodeFlags; 'help' when --help was given. Throws FlagError on any bad flag or value. */
export function parseConfig<T extends readonly FlagSpec[]>(
  specs: T,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): ConfigOf<T> | 'help' {
  const raw: Readonly<Record<string, string>> = parseFlags<string>(specs, argv, env);
  if (raw.help === 'true') return 'help';
  return decodeFlags(specs, raw);
}

/**
 * The argv that parses back to `partial`: one --name=value per field present (an undefined field
 * gives an empty value, which the parsers read as unset/off), in table order. Fields left out are not given.
 */
export function argvOf<T extends readonly FlagSpec[]>(specs: T, partial: Partial<ConfigOf<T>>): string[] {
  const values = partial as Readonly<Record<string, unknown>>;
  const out: string[] = [];
  for (const s of specs) {
    if (isFieldFlag(s) && Object.hasOwn(values, s.field)) out.push(`--${s.name}=${s.show(values[s.field])}`);
  }
  return out;
}

/** Thrown for any bad flag or value: the message is one line that names the flag. */
export class FlagError extends Error {
  constructor(
    readonly flag: string,
    detail: string,
  ) {
    super(`--${flag}: ${detail}`);
    this.name = 'FlagError';
  }
}

/**
 * A port that cannot be listened on is a configuration error naming its flag (exit 2). A busy
 * port is almost always a second copy of us, so the message says so and what to do.
 */
export function listenError(flag: string, err: unknown): FlagError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const detail = `cannot listen: ${code ?? ''} ${errorMessage(err)}`.trim();
  if (code !== 'EADDRINUSE') return new FlagError(flag, detail);
  return new FlagError(
    flag,
    `${detail}; another agent or demo is probably running on this port: stop it or pass another --${flag}`,
  );
}

export type RawFlags<K extends string> = Record<K, string>;

/** Parses argv against specs: flag, then environment, then default. Unknown flags are errors. */
export function parseFlags<K extends string>(
  specs: readonly FlagSpec<K>[],
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): RawFlags<K> {
  const byName = new Map<string, FlagSpec<K>>(specs.map((s) => [s.name, s]));
  const given = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--') || arg === '--') {
      const bare = arg.replace(/^-+/, '');
      const guess = closest(bare.split('=')[0] ?? '', [...byName.keys()]);
      const hint = guess === undefined ? '' : `; did you mean --${guess}?`;
      throw new FlagError(bare || arg, `unexpected argument "${arg}" (flags look like --name=value)${hint}`);
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const spec = byName.get(name);
    if (spec === undefined) {
      const guess = closest(name, [...byName.keys()]);
      throw new FlagError(
        name,
        guess === undefined ? 'unknown flag (see --help)' : `unknown flag; did you mean --${guess}?`,
      );
    }
    if (given.has(name)) throw new FlagError(name, 'given more than once');
    if (spec.boolean === true) {
      const v = eq === -1 ? 'true' : arg.slice(eq + 1);
      if (v !== 'true' && v !== 'false') throw new FlagError(name, `expected true or false, got "${v}"`);
      given.set(name, v);
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) throw new FlagError(name, 'needs a value');
      i++;
    }
    given.set(name, value);
  }
  const out = {} as RawFlags<K>;
  for (const s of specs) {
    const fromEnv = s.env === undefined ? undefined : env[s.env];
    out[s.name] = given.get(s.name) ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : s.default);
  }
  return out;
}

/**
 * The known name (flag or command) a typo most likely meant: case and '_' ignored, then the fewest edits (a swap of
 * two neighbours counts as one), at most 2 and at most a third of the name, so "--nope" suggests nothing.
 */
export function closest(typed: string, names: readonly string[]): string | undefined {
  const want = typed.toLowerCase().replaceAll('_', '-');
  const limit = Math.min(2, Math.floor(want.length / 3));
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const name of names) {
    const d = editDistance(want, name);
    if (d < bestDistance) [best, bestDistance] = [name, d];
  }
  return best;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const up = rows[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((up[j] as number) + 1, (row[j - 1] as number) + 1, (up[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d = Math.min(d, ((rows[i - 2] as number[])[j - 2] as number) + 1);
      row.push(d);
    }
    rows.push(row);
  }
  return (rows[a.length] as number[])[b.length] as number;
}

/** Widest --help line: readable in an 80-100 column terminal and in a pasted bug report. */
export const HELP_WIDTH = 100;
const HELP_INDENT = 35;

/** `--help` text: each flag with its environment variable and default, wrapped to HELP_WIDTH. */
export function helpText(usage: string, specs: readonly FlagSpec[]): string {
  const rows = specs.map((s) => {
    const left = `  --${s.name}${s.boolean === true ? '' : '=VALUE'}`;
    // "[env X]" and "(default X)" stay whole so a wrapped line never splits them.
    const words = [
      ...s.help.split(' '),
      ...(s.env === undefined ? [] : [`[env ${s.env}]`]),
      ...(s.default === '' ? [] : [`(default ${s.default})`]),
    ];
    const lines = wrap(words, HELP_WIDTH - HELP_INDENT);
    const first = left.length < HELP_INDENT ? `${left.padEnd(HELP_INDENT - 1)} ${lines.shift() ?? ''}` : left;
    return [first, ...lines.map((l) => `${' '.repeat(HELP_INDENT)}${l}`)].join('\n');
  });
  return `${usage}\n\nFlags:\n${rows.join('\n')}\n`;
}

/** Greedy word wrap; a single word longer than the width stays whole on its own line. */
function wrap(words: readonly string[], width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of words) {
    if (line !== '' && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') out.push(line);
  return out;
}

// ---- value parsers: each names the flag on failure ----

export function parseIntFlag(flag: string, v: string, min: number, max: number): number {
  if (!/^[0-9]+$/.test(v)) throw new FlagError(flag, `expected a whole number ${min}..${max}, got "${v}"`);
  const n = Number(v);
  if (n < min || n > max) throw new FlagError(flag, `must be ${min}..${max}, got ${v}`);
  return n;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Durations like 100ms, 5s, 2m, 1h (or 0 = off where allowed). Returns milliseconds. */
export function parseDurationFlag(
  flag: string,
  v: string,
  opts: { allowZero?: boolean; minMs?: number; maxMs?: number } = {},
): number {
  if (v === '0' && opts.allowZero === true) return 0;
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$/.exec(v);
  if (m === null)
    throw new FlagError(
      flag,
      `expected a duration like 100ms, 5s or 2m${opts.allowZero === true ? ' (or 0 for off)' : ''}, got "${v}"`,
    );
  const ms = Math.round(Number(m[1]) * (UNITS[m[2] as string] as number));
  if (ms === 0 && opts.allowZero !== true) throw new FlagError(flag, 'must be greater than 0');
  if (opts.minMs !== undefined && ms < opts.minMs)
    throw new FlagError(flag, `must be at least ${opts.minMs}ms, got ${v}`);
  if (opts.maxMs !== undefined && ms > opts.maxMs)
    throw new FlagError(flag, `must be at most ${opts.maxMs}ms, got ${v}`);
  return ms;
}

export function parseEnumFlag<T extends string>(flag: string, v: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(v))
    throw new FlagError(flag, `expected one of ${allowed.join(', ')}, got "${v}"`);
  return v as T;
}
