// The one prefix every program's metrics share, so dashboards and alerts select them by name.
export const METRIC_PREFIX = 'haproxy_node_agent_';
