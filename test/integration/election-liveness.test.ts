/**
 * Fate-sharing (design.md section 3, "Isolation"): the election runs in a worker thread,
 * so a busy data plane never delays an advert, but a data plane that stops ticking must
 * not keep the VIP. Here lb1's node is a process whose main thread we stall on purpose
 * (a busy loop: the worker keeps running, the ticks stop), inside the lab's lb1
 * namespace, with the lab's generated config. Runs the built dist/ (npm test builds first).
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { netnsSupport } from '../helpers/netns.js';
import { startNodeInNetns } from '../helpers/netns-node.js';
import { waitFor, waitForAsync } from '../helpers/wait.js';
import { useLab } from '../helpers/lab.js';

const support = netnsSupport();
const built = existsSync(new URL('../../dist/app/election/election-host.js', import.meta.url));
const ok = support.ok && built;
const why = !support.ok ? ` (skipped: ${support.reason})` : built ? '' : ' (skipped: dist/ is not built; npm test builds it)';

(ok ? describe : describe.skip)(`a stalled data plane gives up the VIP${why}`, () => {
  const lab = useLab('lv');

  it('the main thread stalls for 4 s (liveness_timeout_ms 2000): the node goes FAULT, drops the VIP, lb2 takes over; it comes back after', async () => {
    await lab.stop('lb1');
    const host = lab.state().hosts.find((h) => h.name === 'lb1');
    if (host?.config === undefined) throw new Error('no config for lb1 in the lab state');
    const node = await startNodeInNetns(
      host.namespace,
      `
      import { loadConfigFile } from './dist/config/load.js';
      import { createLogger } from './dist/adapters/logger.js';
      import { ElectionHost } from './dist/app/election/election-host.js';
      const config = loadConfigFile(${JSON.stringify(host.config)});
      const log = createLogger({ level: 'info', format: 'json', node: 'lb1' });
      const host = new ElectionHost({ cluster: config.cluster, nodeName: 'lb1', logLevel: 'info', logFormat: 'json', log, verifyBackends: async () => ({ ok: true, cause: 'no data plane in this test' }), onFatal: (e) => emit({ fatal: e.message }) });
      await host.start();
      serve(async (cmd) => {
        if (cmd.op === 'state') return host.status?.state;
        if (cmd.op === 'stall') {
          const until = Date.now() + cmd.ms;
          while (Date.now() < until) { /* the data plane is stuck */ }
          return 'stalled';
        }
        if (cmd.op === 'stop') { await host.stop('test'); return 'stopped'; }
      });
      `,
      { maxLifetimeMs: 40_000 },
    );
    try {
      await waitForAsync(async () => (await node.ask<string>({ op: 'state' })) === 'MASTER', 'lb1 (stand-alone election host) to be master', 8000);
      const stalled = node.call({ op: 'stall', ms: 4000 }, 10_000);
      await waitForAsync(
        async () => {
          const s = await lab.status();
          return s.nodes.find((n) => n.name === 'lb2')?.state === 'MASTER' && s.nodes.find((n) => n.name === 'lb1')?.holdsVip === false;
        },
        'lb2 master and lb1 without the VIP while lb1 is stalled',
        4000,
      );
      await stalled;
      // The worker's log lines pass through the (stalled) main thread: they arrive after it resumes.
      const isFault = (l: Record<string, unknown>) => l['message'] === 'state_change' && l['state'] === 'FAULT';
      await waitFor(() => node.lines.some(isFault), 'the FAULT state_change line', 3000);
      expect(String(node.lines.find(isFault)?.['cause'])).toMatch(/data plane stalled/);
      // Ticks again: the fault clears, lb1 outranks lb2 and preempts.
      await waitForAsync(async () => (await node.ask<string>({ op: 'state' })) === 'MASTER', 'lb1 master again after the stall', 8000);
      expect((await lab.status()).nodes.find((n) => n.name === 'lb1')?.holdsVip).toBe(true);
      await node.ask({ op: 'stop' }, 10_000);
    } finally {
      await node.stop();
    }
  }, 60_000);
});
