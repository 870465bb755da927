/** Writes a kubeconfig pointing kubectl and @kubernetes/client-node at the fake server. */
import { writeFileSync } from 'node:fs';

export interface KubeconfigOptions {
  namespace?: string;
  context?: string;
}

export function renderKubeconfig(serverUrl: string, opts: KubeconfigOptions = {}): string {
  const context = opts.context ?? 'fakeapi';
  const q = (s: string): string => JSON.stringify(s); // a JSON string is a valid YAML scalar
  const lines = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: fakeapi',
    '  cluster:',
    `    server: ${q(serverUrl)}`,
    // client-node refuses plain http:// unless TLS verification is explicitly skipped.
    '    insecure-skip-tls-verify: true',
    'users:',
    '- name: fakeapi-user',
    '  user:',
    `    token: ${q('fakeapi-token')}`,
    'contexts:',
    `- name: ${q(context)}`,
    '  context:',
    '    cluster: fakeapi',
    '    user: fakeapi-user',
    ...(opts.namespace ? [`    namespace: ${q(opts.namespace)}`] : []),
    `current-context: ${q(context)}`,
    'preferences: {}',
    '',
  ];
  return lines.join('\n');
}

export function writeKubeconfig(path: string, serverUrl: string, opts: KubeconfigOptions = {}): void {
  writeFileSync(path, renderKubeconfig(serverUrl, opts), { mode: 0o600 });
}
