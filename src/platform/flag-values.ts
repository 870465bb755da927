// Flag value parsers shared by every command: each throws a FlagError that names its flag. The
// FlagValue pairs at the end are what flag tables spread into their rows: parse, and show back.
import { isIP } from 'node:net';
import { parsePolicy, type Policy } from '../core/policy.js';
import { isDnsLabel, isDnsSubdomain } from '../core/names.js';
import { type ClaimsRef, claimsRefText, parseClaimsRef } from '../core/claims-document.js';
import { FlagError, type FlagValue, parseDurationFlag, parseEnumFlag, parseIntFlag } from './flags.js';
import { errorMessage } from '../core/error-message.js';

export function ipAddress(flag: string, v: string): string {
  if (isIP(v) === 0) throw new FlagError(flag, `expected an IP address such as 0.0.0.0 or 127.0.0.1, got "${v}"`);
  return v;
}

export function dnsSubdomain(flag: string, v: string): string {
  if (!isDnsSubdomain(v)) throw new FlagError(flag, `expected a lower-case DNS name (RFC 1123), got "${v}"`);
  return v;
}

export function labelSelector(flag: string, v: string): string {
  // The API server has the last word; this catches typos such as a stray space or quote early.
  if (v !== '' && !/^[A-Za-z0-9_./=!,()\- ]+$/.test(v)) throw new FlagError(flag, `not a label selector: "${v}"`);
  return v.trim();
}

export function portRange(flag: string, v: string): { min: number; max: number } {
  const m = /^([0-9]{1,5})-([0-9]{1,5})$/.exec(v);
  if (m === null) throw new FlagError(flag, `expected MIN-MAX such as 9301-9399, got "${v}"`);
  const min = parseIntFlag(flag, m[1] as string, 1, 65535);
  const max = parseIntFlag(flag, m[2] as string, 1, 65535);
  if (min > max) throw new FlagError(flag, `MIN must not exceed MAX, got "${v}"`);
  return { min, max };
}

export function absolutePath(flag: string, v: string): string {
  if (!v.startsWith('/')) throw new FlagError(flag, `expected an absolute path, got "${v}"`);
  return v;
}

export function signalPolicy(flag: string, v: string): Policy {
  try {
    return parsePolicy(v);
  } catch (err) {
    throw new FlagError(flag, errorMessage(err));
  }
}

export function fraction(flag: string, v: string): number {
  const n = /^[0-9]*\.?[0-9]+$/.test(v) ? Number(v) : NaN;
  if (!(n > 0 && n <= 1)) throw new FlagError(flag, `expected a fraction greater than 0 and at most 1, got "${v}"`);
  return n;
}

export function boolValue(flag: string, v: string): boolean {
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new FlagError(flag, `expected true or false, got "${v}"`);
}

export function dnsLabel(flag: string, v: string): string {
  if (!isDnsLabel(v)) throw new FlagError(flag, `expected a namespace name, got "${v}"`);
  return v;
}

/** '' or 'off' = off ('off' because an empty environment variable means "unset"); else a plain http:// URL. */
export function httpUrl(flag: string, v: string): URL | undefined {
  if (v.trim() === '' || v === 'off') return undefined;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new FlagError(
      flag,
      `expected an http:// URL such as http://127.0.0.1:10256/healthz (or empty for off), got "${v}"`,
    );
  }
  // kube-proxy's health port speaks no TLS; node:http is all the poller uses.
  if (u.protocol !== 'http:') throw new FlagError(flag, `only http:// URLs are supported, got "${v}"`);
  if (u.username !== '' || u.password !== '')
    throw new FlagError(flag, `credentials in the URL are not supported, got "${v}"`);
  return u;
}

export function namespaceList(flag: string, v: string): ReadonlySet<string> | undefined {
  if (v.trim() === '') return undefined;
  return new Set(v.split(',').map((ns) => dnsLabel(flag, ns.trim())));
}

// ---- FlagValue pairs: `...port(0)` in a row declares how the flag parses, with its bounds ----

/** A value that prints as itself (strings, numbers, booleans). */
export function plain<V extends string | number | boolean>(parse: (flag: string, text: string) => V): FlagValue<V> {
  return { parse, show: String };
}

/** A boolean flag whose default is '' (absent): true only when given. */
export const given: FlagValue<boolean> = plain((_flag, v) => v === 'true');

/** Any text, as typed. */
export const text: FlagValue<string> = plain((_flag, v) => v);

/** Any text; empty = unset. */
export const optionalText: FlagValue<string | undefined> = {
  parse: (_flag, v) => (v === '' ? undefined : v),
  show: (v) => v ?? '',
};

export function wholeNumber(min: number, max: number): FlagValue<number> {
  return plain((flag, v) => parseIntFlag(flag, v, min, max));
}

/** A TCP port; min 0 where "any free port" is allowed. */
export function port(min: 0 | 1): FlagValue<number> {
  return wholeNumber(min, 65535);
}

/** Milliseconds, typed as 100ms, 5s, 2m, 1h (or 0 where allowZero). */
export function duration(opts: { allowZero?: boolean; minMs?: number; maxMs?: number }): FlagValue<number> {
  return { parse: (flag, v) => parseDurationFlag(flag, v, opts), show: (ms) => (ms === 0 ? '0' : `${ms}ms`) };
}

export function oneOf<T extends string>(allowed: readonly T[]): FlagValue<T> {
  return plain((flag, v) => parseEnumFlag(flag, v, allowed));
}

const BIND = /^[^\s#'"\\]+(?: [^\s#'"\\]+)*$/;

/** Arguments of an HAProxy bind line (render and sync): no quotes, comments or backslashes. */
export function bindArguments(flag: string, v: string): string {
  const bind = v.trim();
  if (!BIND.test(bind))
    throw new FlagError(flag, `expected bind arguments such as ":80" or "127.0.0.1:8080", got "${v}"`);
  return bind;
}

/** NAMESPACE/NAME of the edge's claims ConfigMap, or '' for no record (render, sync). */
export const claimsConfigMapValue: FlagValue<ClaimsRef | undefined> = {
  parse: (flag, v) => {
    if (v.trim() === '') return undefined;
    const ref = parseClaimsRef(v.trim());
    if (ref === undefined)
      throw new FlagError(flag, `expected NAMESPACE/NAME of a ConfigMap (or "" for none), got "${v}"`);
    return ref;
  },
  show: (ref) => (ref === undefined ? '' : claimsRefText(ref)),
};

export const ipAddressValue = plain(ipAddress);
export const bindArgumentsValue = plain(bindArguments);
export const dnsSubdomainValue = plain(dnsSubdomain);
export const dnsLabelValue = plain(dnsLabel);
export const labelSelectorValue = plain(labelSelector);
export const absolutePathValue = plain(absolutePath);
export const fractionValue = plain(fraction);
export const trueFalseValue = plain(boolValue);

export const portRangeValue: FlagValue<{ min: number; max: number }> = {
  parse: portRange,
  show: (r) => `${r.min}-${r.max}`,
};

/** MIN-MAX, or '' for none (a program that can do without the range). */
export const optionalPortRangeValue: FlagValue<{ min: number; max: number } | undefined> = {
  parse: (flag, v) => (v === '' ? undefined : portRange(flag, v)),
  show: (r) => (r === undefined ? '' : `${r.min}-${r.max}`),
};

/** An IP address, or '' for every address. */
export const optionalIpAddressValue: FlagValue<string> = {
  parse: (flag, v) => (v === '' ? '' : ipAddress(flag, v)),
  show: (v) => v,
};

export const signalPolicyValue: FlagValue<Policy> = {
  parse: signalPolicy,
  // Every signal written out: parses back to the same table whatever the defaults become.
  show: (p) =>
    Object.entries(p)
      .map(([name, a]) => `${name}=${a.kind === 'weight' ? `${a.percent}%` : a.kind}`)
      .join(','),
};

export const httpUrlValue: FlagValue<URL | undefined> = { parse: httpUrl, show: (u) => u?.href ?? '' };

export const namespaceListValue: FlagValue<ReadonlySet<string> | undefined> = {
  parse: namespaceList,
  show: (set) => (set === undefined ? '' : [...set].join(',')),
};
