/**
 * Whether this run is CI: CI set to anything but "", "0" or "false" (GitHub Actions, GitLab and
 * most others set CI=true). In CI a missing tool (haproxy, kubectl, systemd-analyze) is a broken
 * setup and fails; elsewhere the tests that need it are skipped, with the reason.
 */
export function isCI(env: NodeJS.ProcessEnv = process.env): boolean {
  const ci = env.CI;
  return ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0';
}
