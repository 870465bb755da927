// Reads of /proc for the bench: a process's CPU time and resident memory, and machine facts.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { execFileSync } from 'node:child_process';

/** Clock ticks per second for /proc/PID/stat (getconf CLK_TCK; 100 on every Linux we run on). */
export const CLK_TCK = ((): number => {
  try {
    const v = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(v) && v > 0 ? v : 100;
  } catch {
    return 100;
  }
})();

/** utime and stime of a whole process (all threads), in milliseconds: fields 14 and 15 of /proc/PID/stat. */
export function cpuTimes(pid: number): { userMs: number; sysMs: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  // The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so field N is rest[N - 3].
  return { userMs: (Number(rest[14 - 3]) * 1000) / CLK_TCK, sysMs: (Number(rest[15 - 3]) * 1000) / CLK_TCK };
}

/** utime + stime of a whole process, in milliseconds. */
export function cpuMs(pid: number): number {
  const c = cpuTimes(pid);
  return c.userMs + c.sysMs;
}

/** Sum of CPU time over several processes (ms). */
export function cpuMsOf(pids: readonly number[]): number {
  let sum = 0;
  for (const p of pids) sum += cpuMs(p);
  return sum;
}

/** VmRSS and VmHWM (peak) of a process in MB, from /proc/PID/status. */
export function memoryMb(pid: number): { rssMb: number; peakRssMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  const kb = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
    return m === null ? NaN : Number(m[1]);
  };
  return { rssMb: round(kb('VmRSS') / 1024, 1), peakRssMb: round(kb('VmHWM') / 1024, 1) };
}

export interface MachineFacts {
  cores: number;
  cpuModel: string;
  node: string;
  kernel: string;
  clkTck: number;
  tcpTwReuse: string;
  ephemeralPorts: string;
  openFilesLimit: string;
}

export function machineFacts(): MachineFacts {
  const read = (p: string): string => {
    try {
      return readFileSync(p, 'utf8').trim();
    } catch {
      return '?';
    }
  };
  const cpuinfo = read('/proc/cpuinfo');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? '?';
  const limits = read('/proc/self/limits');
  const nofile = /^Max open files\s+(\d+|unlimited)/m.exec(limits)?.[1] ?? '?';
  return {
    cores: availableParallelism(),
    cpuModel: model,
    node: process.version,
    kernel: read('/proc/sys/kernel/osrelease'),
    clkTck: CLK_TCK,
    tcpTwReuse: read('/proc/sys/net/ipv4/tcp_tw_reuse'),
    ephemeralPorts: read('/proc/sys/net/ipv4/ip_local_port_range').replace(/\s+/g, '-'),
    openFilesLimit: nofile,
  };
}

export function round(v: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
