// Which API server and credentials: a kubeconfig file, or the in-cluster service account.
import { KubeConfig } from '@kubernetes/client-node';
import { FlagError } from '../flags.js';

export function loadKubeConfig(path: string | undefined, env: NodeJS.ProcessEnv): KubeConfig {
  const kc = new KubeConfig();
  if (path === undefined) {
    if (env.KUBERNETES_SERVICE_HOST === undefined) {
      throw new FlagError('kubeconfig', 'not set, and not running in a Pod (KUBERNETES_SERVICE_HOST is unset); give a kubeconfig file');
    }
    kc.loadFromCluster();
  } else {
    if (path.includes(':')) throw new FlagError('kubeconfig', `one file only, got "${path}"`);
    try {
      kc.loadFromFile(path);
    } catch (err) {
      throw new FlagError('kubeconfig', `cannot load "${path}": ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    }
  }
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new FlagError('kubeconfig', 'no current context/cluster in the kubeconfig');
  // client-node refuses plain http unless TLS verification is explicitly off; say so at start.
  if (cluster.server.startsWith('http://') && cluster.skipTLSVerify !== true) {
    throw new FlagError('kubeconfig', `cluster ${cluster.name} uses http:// without insecure-skip-tls-verify: true, which the Kubernetes client refuses`);
  }
  return kc;
}
