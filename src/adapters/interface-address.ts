/**
 * Our own addresses on the cluster interface, from os.networkInterfaces(): the IPv4
 * address adverts are sent from (cluster.address defaults to it) and the MAC.
 *
 * os.networkInterfaces() leaves out interfaces that hold no address, and files an IPv4
 * address that has a label (`ip addr add ... label eth0:vip`) under the label, not under
 * the interface; both just mean "not found here".
 */
import os from 'node:os';

type InterfaceTable = NodeJS.Dict<os.NetworkInterfaceInfo[]>;

function isIPv4(info: os.NetworkInterfaceInfo): boolean {
  // Node 18.0-18.3 reported family as the number 4; the types only know the string.
  return info.family === 'IPv4' || (info.family as unknown) === 4;
}

/**
 * The first IPv4 address on `name` that is not in `exclude`. Pass the cluster's VIPs as
 * `exclude`: a VIP left on the interface (by a crash, or because we are master) must
 * never be taken as this node's own address, or two nodes would advertise the same one.
 * `table` is for tests; it defaults to os.networkInterfaces().
 */
export function interfaceIPv4(name: string, exclude: readonly string[] = [], table: InterfaceTable = os.networkInterfaces()): string | undefined {
  const excluded = new Set(exclude.map((a) => a.split('/')[0]));
  return table[name]?.find((info) => isIPv4(info) && !excluded.has(info.address))?.address;
}

/** The interface's MAC address (lower case, colon separated), or undefined when unknown. */
export function interfaceMac(name: string, table: InterfaceTable = os.networkInterfaces()): string | undefined {
  const mac = table[name]?.find((info) => info.mac && info.mac !== '00:00:00:00:00:00')?.mac;
  return mac?.toLowerCase();
}
