// One runtime API command per function, as text for cliCommand(s). Every name and value is checked
// first: the CLI splits words on spaces, `;` and a newline start another command, and names come
// from tenants. Keywords and reply texts as measured on HAProxy 2.6.12 (docs/haproxy.md).
import { isIP } from 'node:net';

/** HAProxy's identifier characters (backend and server names). */
const NAME = /^[A-Za-z0-9._:-]+$/;
/** agent-send through the CLI: one word, no quotes or backslash (the CLI cannot carry a newline). */
const AGENT_SEND = /^[A-Za-z0-9._:/-]+$/;

export type ServerState = 'ready' | 'drain' | 'maint';

export interface AddServerOptions {
  /** An IPv4 or IPv6 address (no host names: they would need resolvers). */
  address: string;
  port: number;
  /** Health checks (`check`); they stay off until `enable health`. Default false. */
  check?: boolean;
  /** `inter` of the health check, in ms. */
  checkInterMs?: number;
  /** Agent check (`agent-check`) when set; it stays off until `enable agent`. */
  agentPort?: number;
  /** Default: the server's own address. */
  agentAddress?: string;
  agentInterMs?: number;
  /** e.g. "ns/name"; sent without a newline (the CLI cannot carry one). */
  agentSend?: string;
  /** 0..256; HAProxy's default is 1, so agent percentages need a base such as 100. */
  weight?: number;
  /** 0 = none. */
  slowstartMs?: number;
  /** `on-marked-down shutdown-sessions`. */
  shutdownSessionsOnDown?: boolean;
}

/**
 * `add server BE/SRV ADDR:PORT ...`. The new server starts in MAINT with its checks off: enable
 * them (`enableAgent`, `enableHealth`) and/or `setServerState(..., 'ready')`.
 */
export function addServer(backend: string, server: string, o: AddServerOptions): string {
  const words = ['add server', ref(backend, server), `${hostPort(o.address)}:${port(o.port, 'port')}`];
  if (o.weight !== undefined) words.push('weight', String(int(o.weight, 0, 256, 'weight')));
  if (o.check === true) words.push('check');
  if (o.checkInterMs !== undefined) words.push('inter', `${int(o.checkInterMs, 1, 86_400_000, 'checkInterMs')}ms`);
  if (o.agentPort !== undefined) {
    words.push('agent-check', 'agent-port', String(port(o.agentPort, 'agentPort')));
    if (o.agentAddress !== undefined) words.push('agent-addr', ip(o.agentAddress));
    if (o.agentInterMs !== undefined)
      words.push('agent-inter', `${int(o.agentInterMs, 1, 86_400_000, 'agentInterMs')}ms`);
    if (o.agentSend !== undefined) words.push('agent-send', agentSend(o.agentSend));
  } else if (o.agentAddress !== undefined || o.agentInterMs !== undefined || o.agentSend !== undefined)
    throw new Error('agentAddress, agentInterMs and agentSend need agentPort');
  if (o.slowstartMs !== undefined && int(o.slowstartMs, 0, 86_400_000, 'slowstartMs') > 0)
    words.push('slowstart', `${o.slowstartMs}ms`);
  if (o.shutdownSessionsOnDown === true) words.push('on-marked-down', 'shutdown-sessions');
  return words.join(' ');
}

/** Succeeds only for a server in MAINT with no connection attached (disable its agent first). */
export function delServer(backend: string, server: string): string {
  return `del server ${ref(backend, server)}`;
}

/** IPv6 goes bare here (`addr ::1 port 80`); `add server` wants it in brackets. */
export function setServerAddr(backend: string, server: string, address: string, p: number): string {
  return `set server ${ref(backend, server)} addr ${ip(address)} port ${port(p, 'port')}`;
}

/** Refused with "agent checks are not enabled on this server" until `enable agent`. */
export function setAgentAddr(backend: string, server: string, address: string): string {
  return `set server ${ref(backend, server)} agent-addr ${ip(address)}`;
}

/** Refused like setAgentAddr until `enable agent`. */
export function setAgentPort(backend: string, server: string, p: number): string {
  return `set server ${ref(backend, server)} agent-port ${port(p, 'agentPort')}`;
}

export function setAgentSend(backend: string, server: string, send: string): string {
  return `set server ${ref(backend, server)} agent-send ${agentSend(send)}`;
}

export function setWeight(backend: string, server: string, weight: number): string {
  return `set server ${ref(backend, server)} weight ${int(weight, 0, 256, 'weight')}`;
}

export function enableAgent(backend: string, server: string): string {
  return `enable agent ${ref(backend, server)}`;
}

export function disableAgent(backend: string, server: string): string {
  return `disable agent ${ref(backend, server)}`;
}

export function enableHealth(backend: string, server: string): string {
  return `enable health ${ref(backend, server)}`;
}

export function disableHealth(backend: string, server: string): string {
  return `disable health ${ref(backend, server)}`;
}

/** The same flags the agent sets: an enabled agent's next reply overrides them. */
export function setServerState(backend: string, server: string, state: ServerState): string {
  if (state !== 'ready' && state !== 'drain' && state !== 'maint') throw new Error(`bad server state ${String(state)}`);
  return `set server ${ref(backend, server)} state ${state}`;
}

/** Closes every session on the server: for a drain that outlived its deadline. */
export function shutdownSessions(backend: string, server: string): string {
  return `shutdown sessions server ${ref(backend, server)}`;
}

export function showServersState(backend?: string): string {
  return backend === undefined ? 'show servers state' : `show servers state ${name(backend, 'backend')}`;
}

/**
 * Whether a reply to one of the commands above says it failed. Success is what 2.6.12 prints on
 * success: nothing (state, enable/disable, setters), "New server registered.", "Server deleted.",
 * the "IP changed from …" / "no need to change the addr …" lines of `set server addr`, or
 * `show servers state` output. Anything else (e.g. "No such server.", "Only servers in
 * maintenance mode can be deleted.", "unknown keyword 'x'.") is a failure.
 */
export function commandFailed(reply: string): boolean {
  const text = reply.trim();
  if (text === '') return false;
  return !SUCCESS.some((s) => s.test(text));
}

const SUCCESS = [
  /^New server registered\./,
  /^Server deleted\./,
  /^IP changed from '/,
  /^no need to change the addr/,
  /^1\n# be_id /,
];

export function isHaproxyName(s: string): boolean {
  return NAME.test(s);
}

function name(s: string, what: string): string {
  if (!NAME.test(s)) throw new Error(`${what} ${JSON.stringify(s)} is not an HAProxy name ([A-Za-z0-9._:-]+)`);
  return s;
}

function ref(backend: string, server: string): string {
  return `${name(backend, 'backend')}/${name(server, 'server')}`;
}

function ip(address: string): string {
  if (isIP(address) === 0) throw new Error(`${JSON.stringify(address)} is not an IP address`);
  return address;
}

function hostPort(address: string): string {
  return isIP(ip(address)) === 6 ? `[${address}]` : address;
}

function port(p: number, what: string): number {
  return int(p, 1, 65_535, what);
}

function int(n: number, min: number, max: number, what: string): number {
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${what} ${n} is not an integer in ${min}..${max}`);
  return n;
}

function agentSend(s: string): string {
  if (!AGENT_SEND.test(s)) throw new Error(`agent-send ${JSON.stringify(s)} must match [A-Za-z0-9._:/-]+`);
  return s;
}
