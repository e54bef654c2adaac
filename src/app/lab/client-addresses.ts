/**
 * Extra source addresses on the client's eth0 (10.77.0.160 up, plan.ts), so one client
 * namespace stands for many clients: persistence by source IP, ghosts by client. Only
 * the client namespace is touched; the addresses go with it at `down`.
 */
import { CLIENT_EXTRA_MAX, LAB_IFNAME, LAB_PREFIX_LEN, clientExtraAddress } from './plan.js';
import { ip, ipJson } from './system.js';

interface AddrRow { addr_info?: Array<{ family?: string; local?: string }> }

/** The first `count` extra addresses, added where missing; returns them in order. */
export async function addClientAddresses(ns: string, count: number): Promise<string[]> {
  if (!Number.isInteger(count) || count < 1 || count > CLIENT_EXTRA_MAX) throw new RangeError(`client addresses: expected 1-${CLIENT_EXTRA_MAX}, got ${count}`);
  const rows = await ipJson<AddrRow>('-n', ns, 'addr', 'show', 'dev', LAB_IFNAME);
  const have = new Set(rows.flatMap((r) => (r.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => a.local)));
  const wanted = Array.from({ length: count }, (_, i) => clientExtraAddress(i));
  for (const a of wanted) if (!have.has(a)) await ip('-n', ns, 'addr', 'add', `${a}/${LAB_PREFIX_LEN}`, 'dev', LAB_IFNAME);
  return wanted;
}
