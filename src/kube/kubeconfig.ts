// Which API server and credentials: a kubeconfig file, or the in-cluster service account.
// Parsed here (js-yaml) rather than by client-node's KubeConfig, whose module pulls in the whole
// generated API (~70 MB RSS) and ignores the standard `tokenFile` field. Every user form kubectl
// accepts is read; one we cannot honour is a start-up error naming it, never an anonymous request.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isIPv6 } from 'node:net';
import { dirname, isAbsolute, join } from 'node:path';
import yaml from 'js-yaml';
import { FlagError } from '../platform/flags.js';
import { isPlainObject, type JsonObject } from '../core/json.js';

export interface ClusterInfo {
  name: string;
  /** An http(s) URL, without a trailing slash. */
  server: string;
  /** The server as the kubeconfig wrote it, when that had no scheme (for messages). */
  serverWritten?: string;
  skipTLSVerify: boolean;
  caFile?: string;
  caData?: string;
  tlsServerName?: string;
}

/** An exec credential plugin entry, as client-node's ExecAuth expects it. */
export interface ExecConfig {
  command: string;
  args?: string[];
  env?: Array<{ name: string; value: string }>;
  apiVersion?: string;
}

export interface UserInfo {
  name: string;
  token?: string;
  /** kubectl's `tokenFile`, client-node's `token-file` and the in-cluster token: re-read on change. */
  tokenFile?: string;
  certFile?: string;
  certData?: string;
  keyFile?: string;
  keyData?: string;
  exec?: ExecConfig;
  username?: string;
  password?: string;
  as?: string;
  asGroups?: string[];
  asUid?: string;
}

export interface ContextInfo {
  name: string;
  cluster: string;
  user: string;
  namespace?: string;
}

export const SERVICEACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** A loaded kubeconfig: contexts to choose from and the current one's cluster and user. */
export class KubeAccess {
  constructor(
    private readonly clusters: ClusterInfo[],
    /** Raw user entries: only the one in use is checked, so other contexts' users cannot break us. */
    private readonly users: ReadonlyArray<{ name: string; read(): UserInfo }>,
    private readonly contexts: ContextInfo[],
    private current: string,
    /** Where this came from, for messages: a path or "in-cluster". */
    readonly source: string,
  ) {}

  getContexts(): readonly ContextInfo[] {
    return this.contexts;
  }

  getContextObject(name: string): ContextInfo | null {
    return this.contexts.find((c) => c.name === name) ?? null;
  }

  getCurrentContext(): string {
    return this.current;
  }

  setCurrentContext(name: string): void {
    this.current = name;
  }

  getCurrentCluster(): ClusterInfo | null {
    const ctx = this.getContextObject(this.current);
    return ctx === null ? null : (this.clusters.find((c) => c.name === ctx.cluster) ?? null);
  }

  /** The current context's user; a context without a user authenticates with certificates or not at all. */
  getCurrentUser(): UserInfo {
    const ctx = this.getContextObject(this.current);
    const name = ctx?.user ?? '';
    const user = this.users.find((u) => u.name === name);
    if (user === undefined && name !== '')
      throw new FlagError(
        'kubeconfig',
        `context "${this.current}" names user "${name}", which ${this.source} does not define`,
      );
    return user === undefined ? { name: '' } : user.read();
  }
}

// Unlike core/json.ts's str: an empty string here means "not set", as kubectl reads it.
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

export function loadKubeConfig(path: string | undefined, env: NodeJS.ProcessEnv): KubeAccess {
  const kc = path === undefined ? inCluster(env) : fromFile(path);
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new FlagError('kubeconfig', 'no current context/cluster in the kubeconfig');
  kc.getCurrentUser(); // a context naming a missing user fails now, not at the first request
  refusePlainHttp(cluster, 'kubeconfig');
  return kc;
}

/** Plain http carries no TLS at all: only when the kubeconfig says so explicitly (as kubectl). */
export function refusePlainHttp(cluster: ClusterInfo, flag: string): void {
  if (cluster.server.startsWith('http://') && cluster.skipTLSVerify !== true) {
    const bare =
      cluster.serverWritten === undefined
        ? ''
        : ` (its server "${cluster.serverWritten}" has no scheme, read as http:// (as kubectl does))`;
    throw new FlagError(
      flag,
      `cluster ${cluster.name} uses http://${bare} without insecure-skip-tls-verify: true, ` +
        'which the Kubernetes client refuses',
    );
  }
}

/**
 * The server as a URL we can request. A bare host:port is read as kubectl reads it: measured with
 * kubectl 1.32, `127.0.0.1:6443` is sent as plain http (CA or not), so it becomes http://.
 * Anything else that is not an http(s) URL is a start-up error, not an API server that is
 * "unreachable" forever.
 */
export function serverUrl(written: string, bad: (detail: string) => Error): string {
  const trimmed = written.replace(/\/+$/, '');
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed);
  const candidate = hasScheme ? trimmed : `http://${trimmed}`;
  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    throw bad(`server "${written}" is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw bad(`server "${written}" must be https:// or http://`);
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '')
    throw bad(`server "${written}" must be a scheme, host, port and path only`);
  return candidate;
}

function inCluster(env: NodeJS.ProcessEnv): KubeAccess {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (host === undefined)
    throw new FlagError(
      'kubeconfig',
      'not set, and not running in a Pod (KUBERNETES_SERVICE_HOST is unset); give a kubeconfig file',
    );
  if (port === undefined || port === '')
    throw new FlagError(
      'kubeconfig',
      'not set, and KUBERNETES_SERVICE_PORT is unset (KUBERNETES_SERVICE_HOST is set); give a kubeconfig file',
    );
  // Like client-go: always https, the service-account CA, the projected token (re-read on change).
  const server = `https://${isIPv6(host) ? `[${host}]` : host}:${port}`;
  let namespace: string | undefined;
  try {
    namespace = readFileSync(join(SERVICEACCOUNT_DIR, 'namespace'), 'utf8').trim() || undefined;
  } catch {
    namespace = undefined;
  }
  const kc = new KubeAccess(
    [{ name: 'in-cluster', server, skipTLSVerify: false, caFile: join(SERVICEACCOUNT_DIR, 'ca.crt') }],
    [{ name: 'in-cluster', read: () => ({ name: 'in-cluster', tokenFile: join(SERVICEACCOUNT_DIR, 'token') }) }],
    [
      {
        name: 'in-cluster',
        cluster: 'in-cluster',
        user: 'in-cluster',
        ...(namespace === undefined ? {} : { namespace }),
      },
    ],
    'in-cluster',
    'the in-cluster service account',
  );
  return kc;
}

function fromFile(path: string): KubeAccess {
  if (path.includes(':')) throw new FlagError('kubeconfig', `one file only, got "${path}"`);
  let doc: unknown;
  try {
    doc = yaml.load(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new FlagError(
      'kubeconfig',
      `cannot load "${path}": ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
    );
  }
  const root = isPlainObject(doc) ? doc : {};
  // Relative paths in a kubeconfig are relative to the file, as kubectl reads them.
  const dir = dirname(path);
  const abs = (p: string | undefined): string | undefined => (p === undefined || isAbsolute(p) ? p : join(dir, p));
  const list = (key: string): JsonObject[] =>
    Array.isArray(root[key]) ? (root[key] as unknown[]).filter(isPlainObject) : [];
  const bad = (what: string, detail: string): FlagError => new FlagError('kubeconfig', `${path}: ${what} ${detail}`);

  const clusters: ClusterInfo[] = [];
  for (const [i, e] of list('clusters').entries()) {
    const name = str(e.name);
    const c = isPlainObject(e.cluster) ? e.cluster : undefined;
    if (name === undefined || c === undefined) throw bad(`clusters[${i}]`, 'needs a name and a cluster');
    const written = str(c.server);
    if (written === undefined) throw bad(`cluster "${name}"`, 'has no server');
    const server = serverUrl(written, (detail) => bad(`cluster "${name}":`, detail));
    clusters.push({
      name,
      server,
      ...(server === written.replace(/\/+$/, '') ? {} : { serverWritten: written }),
      skipTLSVerify: c['insecure-skip-tls-verify'] === true,
      ...opt('caFile', abs(str(c['certificate-authority']))),
      ...opt('caData', str(c['certificate-authority-data'])),
      ...opt('tlsServerName', str(c['tls-server-name'])),
    });
    // Accepted by kubectl, not by us: say so rather than connect somewhere else.
    if (str(c['proxy-url']) !== undefined)
      throw bad(
        `cluster "${name}"`,
        'uses proxy-url, which this agent does not support; reach the API server directly',
      );
  }

  const users: Array<{ name: string; read(): UserInfo }> = [];
  for (const [i, e] of list('users').entries()) {
    const name = str(e.name);
    if (name === undefined) throw bad(`users[${i}]`, 'needs a name');
    users.push({
      name,
      read: () => userFrom(name, isPlainObject(e.user) ? e.user : {}, abs, (detail) => bad(`user "${name}"`, detail)),
    });
  }

  const contexts: ContextInfo[] = [];
  for (const [i, e] of list('contexts').entries()) {
    const name = str(e.name);
    const c = isPlainObject(e.context) ? e.context : undefined;
    if (name === undefined || c === undefined) throw bad(`contexts[${i}]`, 'needs a name and a context');
    contexts.push({
      name,
      cluster: str(c.cluster) ?? '',
      user: str(c.user) ?? '',
      ...opt('namespace', str(c.namespace)),
    });
  }
  return new KubeAccess(clusters, users, contexts, str(root['current-context']) ?? '', path);
}

/**
 * One user entry: the forms we honour are kept, one we cannot honour (auth-provider, half a client
 * certificate, two bearer sources) fails naming it.
 */
function userFrom(
  name: string,
  u: JsonObject,
  abs: (p: string | undefined) => string | undefined,
  bad: (d: string) => FlagError,
): UserInfo {
  const ap = u['auth-provider'];
  if (ap !== undefined && ap !== null) {
    const which = isPlainObject(ap) ? (str(ap.name) ?? 'unnamed') : 'unnamed';
    throw bad(
      `uses auth-provider "${which}", which this agent does not support; ` +
        'use a token, tokenFile, client certificate or an exec plugin',
    );
  }
  const out: UserInfo = {
    name,
    ...opt('token', str(u.token)),
    // kubectl's field is tokenFile; client-node's own is token-file: the same meaning.
    ...opt('tokenFile', abs(str(u.tokenFile) ?? str(u['token-file']))),
    ...opt('certFile', abs(str(u['client-certificate']))),
    ...opt('certData', str(u['client-certificate-data'])),
    ...opt('keyFile', abs(str(u['client-key']))),
    ...opt('keyData', str(u['client-key-data'])),
    ...opt('username', str(u.username)),
    ...opt('password', str(u.password)),
    ...opt('as', str(u.as)),
    ...opt('asUid', str(u['as-uid'])),
  };
  if (Array.isArray(u['as-groups'])) out.asGroups = u['as-groups'].filter((g): g is string => typeof g === 'string');
  if (u.exec !== undefined && u.exec !== null) {
    const ex = isPlainObject(u.exec) ? u.exec : {};
    const command = str(ex.command);
    if (command === undefined) throw bad('has an exec entry without a command');
    out.exec = {
      command,
      args: Array.isArray(ex.args) ? ex.args.map(String) : [],
      ...(Array.isArray(ex.env)
        ? {
            env: ex.env
              .filter(isPlainObject)
              .map((v) => ({ name: String(v.name ?? ''), value: String(v.value ?? '') })),
          }
        : {}),
      ...opt('apiVersion', str(ex.apiVersion)),
    };
  }
  const hasCert = out.certFile !== undefined || out.certData !== undefined;
  const hasKey = out.keyFile !== undefined || out.keyData !== undefined;
  if (hasCert !== hasKey)
    throw bad(`has a client ${hasCert ? 'certificate without its key' : 'key without its certificate'}`);
  const bearer = out.token !== undefined || out.tokenFile !== undefined;
  if (out.exec !== undefined && bearer) throw bad('has both an exec plugin and a token; keep one');
  if (out.username !== undefined && (bearer || out.exec !== undefined))
    throw bad('has both username/password and a token or exec plugin; keep one');
  return out;
}

function opt<K extends string>(key: K, v: string | undefined): { [P in K]?: string } {
  return (v === undefined ? {} : { [key]: v }) as { [P in K]?: string };
}

/** Like kubectl: --kubeconfig, else $KUBECONFIG (first file), else ~/.kube/config, else in-cluster. */
export function kubeconfigPath(flag: string, env: NodeJS.ProcessEnv): string | undefined {
  if (flag !== '') return flag;
  const first = (env.KUBECONFIG ?? '').split(':').find((p) => p !== '');
  if (first !== undefined) return first;
  const home = join(env.HOME ?? homedir(), '.kube', 'config');
  return existsSync(home) ? home : undefined;
}

/**
 * The kubeconfig with `context` selected (undefined: its current context), checked as at start: a
 * context that is missing or names no cluster, or a plain-http server without
 * insecure-skip-tls-verify, is a one-line error naming --context. Shared by render and sync.
 */
export function loadContext(path: string | undefined, context: string | undefined, env: NodeJS.ProcessEnv): KubeAccess {
  const kc = loadKubeConfig(path, env);
  if (context === undefined) return kc;
  if (kc.getContextObject(context) === null) {
    const have = kc
      .getContexts()
      .map((c) => c.name)
      .join(', ');
    throw new FlagError(
      'context',
      `no context "${context}" in ${path ?? 'the in-cluster config'} (have: ${have || 'none'})`,
    );
  }
  kc.setCurrentContext(context);
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new FlagError('context', `context "${context}" names no known cluster`);
  refusePlainHttp(cluster, 'context');
  return kc;
}
