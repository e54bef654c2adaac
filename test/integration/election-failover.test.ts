/**
 * Election and VIP takeover end to end: real `halo run` processes in the lab's network
 * namespaces (design.md section 7), killed with real signals, links pulled on a real
 * bridge, the client's real ARP table checked. Each describe builds and removes its own
 * lab; nothing here asserts a speed (that is `npm run bench:failover`), only orderings
 * that hold on any machine (SIGTERM's handover is shorter than SIGKILL's detection).
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { OutageReport } from '../../src/app/lab/outages.js';
import { netnsSupport } from '../helpers/netns.js';
import { waitFor, waitForAsync } from '../helpers/wait.js';
import { eventTime, labLogEvents, labNamespace, labNode, measureFailover, useLab, waitMaster } from '../helpers/lab.js';

const run = promisify(execFile);
const support = netnsSupport();
const maybe = support.ok ? describe : describe.skip;
const why = support.ok ? '' : ` (skipped: ${support.reason})`;

maybe(`election and VIP takeover, 2 nodes${why}`, () => {
  const lab = useLab('e2');

  it('the higher priority becomes master and alone holds the VIP; the client reaches the VIP through it', async () => {
    await waitMaster(lab, 'lb1');
    const s = await lab.status();
    expect(labNode(s, 'lb2').state).toBe('BACKUP');
    expect(labNode(s, 'lb2').holdsVip).toBe(false);
    const r = await lab.probe({ seconds: 1 });
    expect(r.report.successes).toBeGreaterThan(0);
    expect(r.report.servingNodes).toEqual(['lb1']);
  });

  it('a VIP deleted behind the master back is put back and logged', async () => {
    await waitMaster(lab, 'lb1');
    const ns = labNamespace(lab, 'lb1');
    await run('ip', ['-n', ns, 'addr', 'del', '10.77.0.100/24', 'dev', 'eth0']);
    await waitMaster(lab, 'lb1', 3000);
    expect(labLogEvents(lab, 'lb1').some((e) => e['message'] === 'vip_restored')).toBe(true);
  });

  let sigkill: OutageReport | undefined;
  it('SIGKILL of the master: the backup takes the VIP, the client is served again and its ARP entry points at the new master', async () => {
    await waitMaster(lab, 'lb1');
    sigkill = await measureFailover(lab, 'lb2', () => lab.kill('lb1').then(() => undefined));
    expect(sigkill.nodeChanged).toBe(true);
    expect(sigkill.servingNodes.at(-1)).toBe('lb2');
    const s = await waitMaster(lab, 'lb2');
    expect(s.clientArp?.mac).toBe(labNode(s, 'lb2').mac);
    const takeover = labLogEvents(lab, 'lb2').find((e) => e['message'] === 'takeover');
    expect(takeover).toMatchObject({ state: 'MASTER', timeline_from: 'last advert' });
    expect(String(takeover?.['cause'])).toMatch(/master down/);
  });

  it('the old master returns and preempts (the default): the VIP and the client go back to it', async () => {
    await lab.start('lb1');
    const s = await waitMaster(lab, 'lb1', 10_000);
    expect(labNode(s, 'lb2').state).toBe('BACKUP');
    // A crashed run's VIP was still on lb1's interface; the new run removed it at start.
    expect(labLogEvents(lab, 'lb1').some((e) => e['message'] === 'stale_vip_removed' || e['message'] === 'election_started')).toBe(true);
    await waitForAsync(async () => (await lab.status()).clientArp?.mac === labNode(s, 'lb1').mac, 'the client ARP entry to point at lb1', 3000);
  });

  it('SIGTERM of the master hands over via priority 0, faster than SIGKILL', async () => {
    await waitMaster(lab, 'lb1');
    const sigterm = await measureFailover(lab, 'lb2', () => lab.stop('lb1').then(() => undefined));
    expect(sigterm.servingNodes.at(-1)).toBe('lb2');
    const cause = labLogEvents(lab, 'lb2').filter((e) => e['message'] === 'state_change' && e['state'] === 'MASTER').at(-1)?.['cause'];
    expect(String(cause)).toMatch(/priority 0 from lb1/);
    expect(sigkill?.longest).toBeDefined();
    expect(sigterm.longest?.duration ?? 0).toBeLessThan(sigkill?.longest?.duration ?? 0);
    await lab.start('lb1');
    await waitMaster(lab, 'lb1', 10_000);
  });

  it('link down on the master bridge port: the backup takes over and the master gives up the VIP (FAULT)', async () => {
    await waitMaster(lab, 'lb1');
    const r = await measureFailover(lab, 'lb2', () => lab.linkdown('lb1'));
    expect(r.servingNodes.at(-1)).toBe('lb2');
    await waitForAsync(async () => {
      const s = await lab.status();
      return labNode(s, 'lb1').state === 'FAULT' && !labNode(s, 'lb1').holdsVip;
    }, 'lb1 in FAULT without the VIP', 5000);
    // Long enough for lb1's health checks to mark its backends down (the cable is out)...
    await waitFor(() => labLogEvents(lab, 'lb1').some((e) => e['message'] === 'data_plane_not_ready'), 'lb1 to see its backends down', 8000);
    // ...so back on the link it must not preempt (and answer 503) before they rise again.
    const back = await measureFailover(lab, 'lb1', () => lab.linkup('lb1'));
    expect(back.windows.flatMap((w) => w.errors)).not.toContain('status-503');
    await waitMaster(lab, 'lb1', 10_000);
  });

  it('silent partition: both become master; on heal exactly one master remains within one advert interval and the client ARP entry points at it', async () => {
    await waitMaster(lab, 'lb1');
    await lab.partition('lb1');
    await waitForAsync(async () => {
      const s = await lab.status();
      return labNode(s, 'lb1').state === 'MASTER' && labNode(s, 'lb2').state === 'MASTER';
    }, 'both nodes master during the partition', 5000);
    const healAt = Date.now();
    await lab.heal('lb1');
    const s = await waitMaster(lab, 'lb1', 5000);
    const elapsed = Date.now() - healAt;
    expect(s.clientArp?.mac).toBe(labNode(s, 'lb1').mac);
    // The lower-priority master steps down on the first advert it hears after the heal.
    const stepDown = labLogEvents(lab, 'lb2').filter((e) => e['message'] === 'state_change' && e['from'] === 'MASTER').at(-1);
    expect(stepDown?.['state']).toBe('BACKUP');
    expect(eventTime(stepDown) - healAt).toBeLessThan(1000);
    expect(elapsed).toBeLessThan(5000);
  });
});

maybe(`election: return without preempting${why}`, () => {
  const lab = useLab('np', { perNode: { lb1: { preempt: false } } });

  it('nopreempt: the returning higher-priority node stays backup', async () => {
    // lb1 has preempt off, yet is master at start: nobody else was master when it came up.
    await waitForAsync(async () => (await lab.status()).nodes.some((n) => n.state === 'MASTER'), 'a master', 8000);
    const first = (await lab.status()).nodes.find((n) => n.state === 'MASTER')?.name;
    if (first === 'lb1') {
      await lab.kill('lb1');
      await waitMaster(lab, 'lb2');
      await lab.start('lb1');
    }
    await waitForAsync(async () => labNode(await lab.status(), 'lb1').state === 'BACKUP', 'lb1 back as BACKUP', 8000);
    await new Promise((r) => setTimeout(r, 1500));
    const s = await waitMaster(lab, 'lb2');
    expect(labNode(s, 'lb1').state).toBe('BACKUP');
  });
});

maybe(`election: preempt_delay${why}`, () => {
  const lab = useLab('pd', { clusterOverrides: { preempt_delay_ms: 2000 } });

  it('the returning master waits preempt_delay_ms before taking the VIP back', async () => {
    await waitMaster(lab, 'lb1');
    await lab.kill('lb1');
    await waitMaster(lab, 'lb2');
    await lab.start('lb1');
    await waitForAsync(async () => labNode(await lab.status(), 'lb1').state === 'BACKUP', 'lb1 back as BACKUP', 8000);
    const backupAt = Date.now();
    await waitMaster(lab, 'lb1', 10_000);
    expect(Date.now() - backupAt).toBeGreaterThanOrEqual(1500);
    const cause = labLogEvents(lab, 'lb1').filter((e) => e['message'] === 'state_change' && e['state'] === 'MASTER').at(-1)?.['cause'];
    expect(String(cause)).toMatch(/preempt/);
  });
});

maybe(`election, 3 nodes, two VIPs${why}`, () => {
  const lab = useLab('e3', { nodes: 3, clusterOverrides: { vips: [{ address: '10.77.0.100/24' }, { address: '10.77.0.101/24' }] } });
  const vipsOn = async (node: string) => {
    const out = await run('ip', ['-n', labNamespace(lab, node), '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    return ['10.77.0.100', '10.77.0.101'].filter((v) => out.stdout.includes(`inet ${v}/24`));
  };

  it('killing the master elects the highest remaining priority, and both VIPs move together', async () => {
    await waitMaster(lab, 'lb1');
    expect(await vipsOn('lb1')).toEqual(['10.77.0.100', '10.77.0.101']);
    await lab.kill('lb1');
    const s = await waitMaster(lab, 'lb2');
    expect(labNode(s, 'lb3').state).toBe('BACKUP');
    expect(await vipsOn('lb2')).toEqual(['10.77.0.100', '10.77.0.101']);
    expect(await vipsOn('lb3')).toEqual([]);
  });
});
