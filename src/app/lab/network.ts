/**
 * The lab's wiring: one namespace per host, each with a veth `eth0` whose other end sits
 * in the switch namespace, named after the host and enslaved to the bridge there. The
 * bridge lives in a namespace of its own so the host's netfilter (br_netfilter with
 * Docker's FORWARD DROP) never sees lab frames (design.md section 7).
 */
import { LAB_BRIDGE, LAB_IFNAME, LAB_PREFIX_LEN, type LabHost } from './plan.js';
import { ip, sh } from './system.js';

export interface BridgePort {
  name: string;
  /** administratively up with carrier */
  up: boolean;
  /** the bridge's STP-style port state: forwarding, disabled, ... */
  state: string;
}

export async function buildSwitch(sw: string): Promise<void> {
  await ip('netns', 'add', sw);
  await ip('-n', sw, 'link', 'set', 'lo', 'up');
  // No IGMP snooping: adverts go to every port whether or not a querier ever ran.
  await ip('-n', sw, 'link', 'add', LAB_BRIDGE, 'type', 'bridge', 'mcast_snooping', '0');
  await ip('-n', sw, 'link', 'set', LAB_BRIDGE, 'up');
}

export async function plugHost(sw: string, host: LabHost): Promise<void> {
  const ns = host.namespace;
  await ip('netns', 'add', ns);
  await ip('-n', ns, 'link', 'set', 'lo', 'up');
  // Both ends are created straight inside their namespaces: the fixed short names never
  // meet the root namespace's (or another lab's) interfaces.
  await ip('link', 'add', LAB_IFNAME, 'netns', ns, 'type', 'veth', 'peer', 'name', host.name, 'netns', sw);
  await ip('-n', sw, 'link', 'set', host.name, 'master', LAB_BRIDGE);
  await ip('-n', sw, 'link', 'set', host.name, 'up');
  await ip('-n', ns, 'addr', 'add', `${host.address}/${LAB_PREFIX_LEN}`, 'dev', LAB_IFNAME);
  await ip('-n', ns, 'link', 'set', LAB_IFNAME, 'up');
  if (host.role === 'lb') {
    // Lets a service bind the VIP itself before this node holds it.
    await sh('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv4.ip_nonlocal_bind=1']);
  }
}

/** Cable pulled / put back: the node's eth0 loses / regains carrier. */
export async function setPortLink(sw: string, port: string, up: boolean): Promise<void> {
  await ip('-n', sw, 'link', 'set', port, up ? 'up' : 'down');
}

/**
 * Silent partition: the bridge stops forwarding on the port (state 0, disabled) while the
 * link and carrier stay up, so the node notices nothing but silence. state 3 = forwarding.
 */
export async function setPortForwarding(sw: string, port: string, forwarding: boolean): Promise<void> {
  await sh('bridge', ['-n', sw, 'link', 'set', 'dev', port, 'state', forwarding ? '3' : '0']);
}

export async function bridgePorts(sw: string): Promise<BridgePort[]> {
  const out = (await sh('bridge', ['-j', '-n', sw, 'link', 'show'])).trim();
  if (out === '') return [];
  const rows = JSON.parse(out) as Array<{ ifname?: string; flags?: string[]; state?: string }>;
  return rows
    .filter((r) => typeof r.ifname === 'string')
    .map((r) => ({
      name: r.ifname as string,
      up: (r.flags ?? []).includes('UP') && (r.flags ?? []).includes('LOWER_UP'),
      state: r.state ?? 'unknown',
    }));
}
