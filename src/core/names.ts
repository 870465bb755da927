// Kubernetes' own name rules (apimachinery validation), in one place: whatever did not come from
// a validating API server (a snapshot file, a fake or buggy source) is checked against them.

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/** RFC 1123 label: namespaces, Service names (which are stricter still), agent-send's two halves. */
export function isDnsLabel(v: string): boolean {
  return v.length <= 63 && LABEL.test(v);
}

/** RFC 1123 subdomain: Node names, annotation prefixes, host names. */
export function isDnsSubdomain(v: string): boolean {
  return v.length <= 253 && SUBDOMAIN.test(v);
}

/** A label value such as topology.kubernetes.io/zone: empty, or ≤ 63 of [A-Za-z0-9-_.] with alphanumeric ends. */
export function isLabelValue(v: string): boolean {
  return v.length <= 63 && LABEL_VALUE.test(v);
}

/**
 * A cluster's name as render and sync call it (a kubeconfig context, an ALIAS=, a snapshot's name):
 * not Kubernetes' to validate, so any text of 1..253 characters without line breaks or control
 * characters. It reaches warnings, server names (sanitized) and the claims record.
 */
export function isClusterName(v: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  return v.length >= 1 && v.length <= 253 && !/[\x00-\x1f\x7f\u2028\u2029]/.test(v);
}
