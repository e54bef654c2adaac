/**
 * The icmp health check end to end: a backend whose *host* disappears is marked down
 * (one log line with an ICMP cause), traffic moves off it, and comes back after rise.
 * tcp and http checks are covered by e2e-health-persistence.test.ts on 127.0.0.1; an
 * icmp target needs an address that can vanish, so this runs in a private network
 * namespace (root only) with one pseudo interface per backend "host".
 *
 * Why the host goes down by removing its address, not only by `ip link set down`:
 * Linux keeps the local route of an address on a downed link, so inside the namespace
 * it still answers echo requests (checked on a 6.18 kernel). Removing the address is
 * what makes it unreachable, like a powered-off machine.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { killAll, startDemoBackend, startHalo, type DemoBackendProc, type Proc } from '../helpers/processes.js';
import { sleep, until } from '../helpers/http-client.js';
import { createNetns, netnsSupport, requestsInNetns, type Netns } from '../helpers/netns.js';

const support = netnsSupport();
if (!support.ok) console.log(`skipping e2e-icmp-netns: ${support.reason}`);

// Fixed ports are fine: nothing else lives in a namespace this run just created.
const SERVICE_PORT = 9000;
const BACKEND_PORT = 8000;
const HOSTS = [
  { name: 'b1', address: '10.213.0.1' },
  { name: 'b2', address: '10.213.0.2' },
  { name: 'b3', address: '10.213.0.3' },
] as const;
const HEALTH = { type: 'icmp', interval_ms: 100, timeout_ms: 80, rise: 2, fall: 2 };

function count(names: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of names) out[n] = (out[n] ?? 0) + 1;
  return out;
}

describe.skipIf(!support.ok)('an icmp health check, in a network namespace', () => {
  let ns: Netns | undefined;
  afterAll(async () => {
    await killAll();
    await ns?.destroy();
  });

  it('marks a vanished host down with an icmp cause, moves traffic off, and back after rise', async () => {
    ns = await createNetns('icmp');
    const netns = ns.name;
    for (const h of HOSTS) await ns.addHost(h.name, h.address);
    const start = (h: (typeof HOSTS)[number]): Promise<DemoBackendProc> =>
      startDemoBackend(h.name, { host: h.address, http: BACKEND_PORT, netns });
    const backends = await Promise.all(HOSTS.map(start));
    const halo: Proc = await startHalo(
      {
        services: [
          {
            name: 'svc',
            mode: 'tcp',
            listen: { address: '127.0.0.1', port: SERVICE_PORT },
            backends: HOSTS.map((h) => ({ name: h.name, address: h.address, port: BACKEND_PORT })),
            health_check: HEALTH,
          },
        ],
      },
      {},
      { netns },
    );
    expect(halo.events.find((e) => e['message'] === 'start_failed')).toBeUndefined();
    const downsOf = (name: string) => halo.events.filter((e) => e['message'] === 'backend_down' && e['backend'] === name);

    let first: string[] = [];
    const allServe = await until(async () => {
      first = await requestsInNetns(netns, SERVICE_PORT, 9);
      return Object.keys(count(first)).sort().join() === 'b1,b2,b3';
    }, 5000, 100);
    expect(allServe, `answers: ${JSON.stringify(count(first))}`).toBe(true);

    // The service dies but its host still answers pings: an icmp check must not care.
    // (A tcp check would mark b2 down within fall * interval here.)
    const victim = HOSTS[1];
    await backends[1]!.kill('SIGKILL');
    await sleep(6 * HEALTH.interval_ms);
    expect(downsOf(victim.name)).toHaveLength(0);

    // Now the host itself goes away.
    await ns.hostDown(victim.name, victim.address);
    const down = await halo.waitFor((e) => e['message'] === 'backend_down' && e['backend'] === victim.name, 5000);
    expect(down['service']).toBe('svc');
    expect(down['address']).toBe(victim.address); // icmp targets have no port
    // With no route left to the address the send itself fails; a kernel that
    // silently dropped instead would give the probe's timeout. Both are icmp causes.
    expect(String(down['cause'])).toMatch(/^icmp send |^timeout after 80 ms$/);
    const after = await requestsInNetns(netns, SERVICE_PORT, 12);
    expect(Object.keys(count(after)).sort()).toEqual(['b1', 'b3']); // no errors, nothing on b2

    await ns.hostUp(victim.name, victim.address);
    await start(victim);
    const up = await halo.waitFor((e) => e['message'] === 'backend_up' && e['backend'] === victim.name, 5000);
    expect(up['cause']).toBe('echo reply');
    const back = count(await requestsInNetns(netns, SERVICE_PORT, 12));
    expect(back[victim.name]).toBeGreaterThan(0);
    expect(Object.keys(back).sort()).toEqual(['b1', 'b2', 'b3']);
    expect(downsOf(victim.name)).toHaveLength(1);
  });
});
