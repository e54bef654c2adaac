import { describe, expect, it } from 'vitest';
import { masterElection, statusInputs } from '../../../test/fakes/admin-status.js';
import { buildStatusReport } from './status-report.js';
import { formatDuration, formatStatus } from './status-text.js';
import { STATUS_HELP, statusMain } from './status-command.js';

describe('formatStatus', () => {
  it("one block per node: state, priority and why, VIP holder, sync and lag; services; the last failover's timeline", () => {
    const text = formatStatus(buildStatusReport(statusInputs()));
    expect(text).toContain('lb1 (this node, 10.0.0.11)');
    expect(text).toMatch(/state {7}MASTER since 2026-11-27 14:00:00Z \(master down/);
    expect(text).toMatch(/priority {4}90 effective, 150 configured, because:\n\s+service web failing \(no healthy backend\): -60/);
    expect(text).toMatch(/VIP {9}10\.0\.0\.100\/24 held by lb1 \(this node\)/);
    expect(text).toMatch(/sync {8}replication master, 1 standby: lb2 streaming, lag 3 ms, 2 unacked/);
    expect(text).toContain('lb2 (10.0.0.12), as lb1 sees it');
    expect(text).toMatch(/state {7}BACKUP \(from its replication link to this node\)/);
    expect(text).toContain('web (http 0.0.0.0:8080): 2/3 backends up');
    expect(text).toContain('web1 up (2 active), web2 up, web3 DOWN');
    expect(text).toContain('detected +163 ms, VIP added +170.5 ms, GARP sent +175 ms');
  });

  it('FAULT says why; a node that never took over says so', () => {
    const e = masterElection({ state: 'FAULT', faultReason: 'interface eth0 down (carrier lost)', lastTakeover: undefined });
    const text = formatStatus(buildStatusReport(statusInputs({ election: e })));
    expect(text).toMatch(/state {7}FAULT: interface eth0 down \(carrier lost\)/);
    expect(text).toContain('VIP         10.0.0.100/24 held by nobody this node knows of');
    expect(text).toContain('last failover  none by lb1 since it started');
  });

  it('formatDuration', () => {
    expect(formatDuration(12.4)).toBe('12 ms');
    expect(formatDuration(2500)).toBe('2.5 s');
    expect(formatDuration(75_000)).toBe('1 min 15 s');
    expect(formatDuration(3 * 3600_000 + 60_000)).toBe('3 h 1 min');
    expect(formatDuration(50 * 3600_000)).toBe('2 d 2 h');
  });
});

describe('statusMain (no server needed)', () => {
  it('--help prints the usage and exits 0; an unknown flag exits 2 with it', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: (t: string) => void out.push(t), stderr: (t: string) => void err.push(t) };
    expect(await statusMain(['--help'], io)).toBe(0);
    expect(out.join('')).toBe(`${STATUS_HELP}\n`);
    expect(STATUS_HELP).toContain('Exit codes: 0 ok, 1');
    expect(await statusMain(['extra'], io)).toBe(2);
    expect(err.join('')).toContain('HALO_ERR_CLI_USAGE: halo status:');
  });

  it('a missing config is exit 2 naming it', async () => {
    const err: string[] = [];
    expect(await statusMain(['--config', '/nonexistent/halo.yaml'], { stdout: () => undefined, stderr: (t) => void err.push(t) })).toBe(2);
    expect(err.join('')).toContain('HALO_ERR_CONFIG_READ');
  });
});
