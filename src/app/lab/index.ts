/** `halo lab`: a halo cluster in network namespaces on one machine (design.md section 7). */
export { Lab, defaultHaloCommand, STOP_TIMEOUT_MS, type LabOptions, type DownReport, type StopReport } from './topology.js';
export type { ClusterOverrides, ServiceOverride, ServiceOverrides } from './configs.js';
export type { LabState, HostState } from './state.js';
export type { LabStatus, NodeStatus, HostStatus, ClientArp } from './status.js';
export { formatStatus } from './status.js';
export { runProbe, type ProbeOptions, type ProbeResult } from './probe.js';
export { findOutages, formatSummary, formatWindow, type OutageReport, type OutageWindow, type ProbeSample } from './outages.js';
export * from './plan.js';
export * from './client-jobs.js';
export { ClientRun } from './client-run.js';
export { summarizeUdp, type LossRun, type UdpRunSummary } from './udp-losses.js';
export type { NodeStatusLine } from './node-status.js';
export { CUT_COMMENT, iptablesMissing } from './replication-cut.js';
