/**
 * `halo status` for people: one block per node as the asked node sees the cluster, then
 * its services and its last failover. Everything comes from the StatusReport; whatever
 * the node cannot know is printed as unknown, never guessed.
 */
import type { ElectionReport, NodeReport, ReplicationReport, ServiceReport, StatusReport } from './status-report.js';
import type { TakeoverTimeline } from '../election/election-node.js';

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

const LABEL = 11;
const row = (label: string, text: string): string => `  ${label.padEnd(LABEL)} ${text}`;
const yesNo = (b: boolean | null): string => (b === null ? 'unknown' : b ? 'synced' : 'NOT synced');
const clock = (iso: string): string => iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');

export function formatStatus(r: StatusReport): string {
  const out: string[] = [`halo ${r.version} on ${r.node}, up ${formatDuration(r.uptimeMs)}; the cluster as ${r.node} sees it at ${clock(r.generatedAt)}`];
  if (r.cluster === null) out.push('no cluster section: a single node, no election, no VIP');
  for (const n of r.nodes) {
    out.push('');
    out.push(...(n.self ? selfBlock(r, n) : peerBlock(r, n)));
  }
  out.push('');
  out.push('services (this node)');
  if (r.services.length === 0) out.push('  none');
  for (const s of r.services) out.push(...serviceLines(s));
  out.push('');
  out.push(`last failover  ${r.lastFailover === null ? `none by ${r.node} since it started` : timeline(r.node, r.lastFailover)}`);
  return `${out.join('\n')}\n`;
}

function selfBlock(r: StatusReport, n: NodeReport): string[] {
  const e = r.election;
  const lines = [`${n.name ?? r.node} (this node${n.address === null ? '' : `, ${n.address}`})`];
  if (e === null) {
    lines.push(row('state', 'standalone (no election)'));
    return lines;
  }
  lines.push(row('state', stateLine(e)));
  lines.push(row('priority', priorityLine(e)));
  for (const reason of e.priorityReasons) lines.push(row('', `  ${reason}`));
  if (e.preemptBlockedBy.length > 0) lines.push(row('preempt', `held back: ${e.preemptBlockedBy.join('; ')}`));
  for (const v of r.vips) lines.push(row('VIP', `${v.address} held by ${v.holder === null ? 'nobody this node knows of' : v.self ? `${v.holder} (this node)` : v.holder}`));
  lines.push(row('sync', syncLine(e, r.replication)));
  return lines;
}

function stateLine(e: ElectionReport): string {
  const since = e.lastChange === null ? '' : ` since ${clock(e.lastChange.at)} (${e.lastChange.cause})`;
  const fault = e.state === 'FAULT' && e.faultReason !== null ? `: ${e.faultReason}` : '';
  const master = e.state === 'BACKUP' && e.master !== null ? `, following ${e.master.node} (${e.master.address}, priority ${e.master.priority}${e.master.lastSeenMsAgo === null ? '' : `, last advert ${formatDuration(e.master.lastSeenMsAgo)} ago`})` : '';
  return `${e.state}${fault}${master}${since}`;
}

function priorityLine(e: ElectionReport): string {
  if (e.effectivePriority === e.configuredPriority && e.priorityReasons.length === 0) return `${e.effectivePriority} (as configured)`;
  return `${e.effectivePriority} effective, ${e.configuredPriority} configured, because:`;
}

function syncLine(e: ElectionReport, rep: ReplicationReport | null): string {
  if (rep === null) return `${yesNo(e.synced)} (no table replication)`;
  if (rep.role === 'master') {
    const peers = rep.peers.map((p) => `${p.node} ${p.phase}${p.lagMs === null ? '' : `, lag ${formatDuration(p.lagMs)}`}${p.unacked === null ? '' : `, ${p.unacked} unacked`}${p.snapshot === null ? '' : `, snapshot ${p.snapshot.sent}/${p.snapshot.total}`}`);
    return `replication master, ${rep.peers.length} standby${rep.peers.length === 1 ? '' : 's'}${peers.length > 0 ? `: ${peers.join('; ')}` : ''}`;
  }
  const s = rep.standby;
  if (s === null) return `${yesNo(rep.synced)}, replication ${rep.role}`;
  const digest = rep.lastDigestMatch === null ? '' : rep.lastDigestMatch ? ', last digest matched' : ', last digest DIFFERED';
  const snap = s.snapshot === null ? '' : `, snapshot ${s.snapshot.received}/${s.snapshot.total}`;
  const err = s.connected || s.lastError === null ? '' : ` (${s.lastError})`;
  return `${yesNo(rep.synced)}: standby of ${s.master ?? 'nobody yet'}, ${s.connected ? 'connected' : 'NOT connected'}, ${s.phase}${snap}${digest}${err}`;
}

function peerBlock(r: StatusReport, n: NodeReport): string[] {
  const name = n.name ?? `unknown node at ${n.address ?? '?'}`;
  const lines = [`${name}${n.name !== null && n.address !== null ? ` (${n.address})` : ''}, as ${r.node} sees it`];
  const via = n.seenVia.includes('replication') ? 'its replication link to this node' : n.seenVia.includes('advert') ? 'its adverts' : 'the config only (never heard)';
  lines.push(row('state', `${n.state === 'unknown' ? 'unknown' : n.state} (from ${via})`));
  if (n.priority !== null) lines.push(row('priority', `${n.priority} (its last advert)`));
  const holds = r.vips.filter((v) => !v.self && v.holder !== null && v.holder === n.name).map((v) => v.address);
  if (holds.length > 0) lines.push(row('VIP', `${holds.join(', ')} held by ${name}`));
  const sync = [yesNo(n.synced), ...(n.lagMs === null ? [] : [`lag ${formatDuration(n.lagMs)}`]), ...(n.unacked === null ? [] : [`${n.unacked} unacked`])];
  lines.push(row('sync', sync.join(', ')));
  if (n.lastSeenMsAgo !== null && !n.seenVia.includes('replication')) lines.push(row('last seen', `${formatDuration(n.lastSeenMsAgo)} ago`));
  return lines;
}

function serviceLines(s: ServiceReport): string[] {
  const backends = s.backends.map((b) => `${s.backends.some((x) => x.pool !== 'default') ? `${b.pool}/` : ''}${b.name} ${b.up ? 'up' : 'DOWN'}${b.active > 0 ? ` (${b.active} active)` : ''}`);
  const rates = `${s.connectionsActive} open, ${round1(s.connectionsPerSec)} conn/s${s.mode === 'http' ? `, ${round1(s.requestsPerSec)} req/s` : ''}`;
  return [`  ${s.name} (${s.mode} ${s.listen}): ${s.backendsUp}/${s.backendsTotal} backends up${s.healthy ? '' : ', NO HEALTHY BACKEND'}; ${rates}`, `    ${backends.join(', ')}`];
}

const round1 = (x: number): string => (Math.round(x * 10) / 10).toString();

function timeline(node: string, t: TakeoverTimeline): string {
  const step = (what: string, ms: number | undefined) => (ms === undefined ? `${what} ?` : `${what} +${ms} ms`);
  return `${node} became MASTER at ${clock(t.at)} (${t.cause}); from the ${t.timelineFrom}: ${step('detected', t.detectedMs)}, ${step('VIP added', t.vipAddedMs)}, ${step('GARP sent', t.garpSentMs)}`;
}
