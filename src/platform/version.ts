// The release version, read once from package.json two levels above dist/common/ (the image and `npm pack` both ship
// it). A plain file read: no import of anything heavy, so `--version` answers in milliseconds.
import { readFileSync } from 'node:fs';

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown'; // a dist/ copied without its package.json still runs
  }
}

export const VERSION = readVersion();

/** One line for `--version`: what an operator pastes into a bug report. */
export function versionLine(): string {
  return `haproxy-node-agent ${VERSION} (node ${process.version})\n`;
}
