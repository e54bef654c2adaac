/**
 * The IPv4 lines of `ip -o addr show` and `ip -o monitor address` (iproute2), shared by
 * the VIP manager (which VIPs are on an interface) and the address monitor (which were
 * deleted). Pure, so the unit tests run on captured output.
 */

export interface IpAddrEntry {
  /** A `Deleted` message of `ip monitor address`. */
  readonly deleted: boolean;
  readonly ifindex: number;
  /** The device name (without an `@...` suffix), not the label. */
  readonly ifname: string;
  /** a.b.c.d */
  readonly address: string;
  readonly prefixLength: number;
  /** a.b.c.d/len, as in the config */
  readonly cidr: string;
  /** The last word before the lifetimes: the device name, or a label like `eth0:vip`. */
  readonly label: string | undefined;
  readonly validLft: number | 'forever' | undefined;
  readonly preferredLft: number | 'forever' | undefined;
}

// [[timestamp] ][Deleted ]<ifindex>: <ifname>[@x]  inet <a.b.c.d>[/len] rest
const ADDR_LINE = /^(?:\[[^\]]*\]\s*)?(Deleted\s+)?(\d+):\s+([^\s@]+)(?:@\S*)?\s+inet\s+(\d{1,3}(?:\.\d{1,3}){3})(?:\/(\d{1,2}))?(.*)$/;

function lft(rest: string, name: string): number | 'forever' | undefined {
  const m = new RegExp(`${name}\\s+(forever|(\\d+)sec)`).exec(rest);
  if (!m) return undefined;
  return m[1] === 'forever' ? 'forever' : Number(m[2]);
}

/**
 * One IPv4 line of `ip -o addr show` or `ip -o monitor address`; undefined for anything
 * else (inet6, link lines). Pure, for unit tests on captured output.
 */
export function parseIpAddrLine(line: string): IpAddrEntry | undefined {
  const m = ADDR_LINE.exec(line.trim());
  if (!m) return undefined;
  const address = m[4] ?? '';
  const rest = m[6] ?? '';
  // A point-to-point address prints as "inet A peer B/len": the length is the peer's.
  const len = m[5] ?? /\speer\s+\S+\/(\d{1,2})/.exec(rest)?.[1] ?? '32';
  const head = (rest.split('\\')[0] ?? '').split(/\s+/).filter((w) => w.length > 0);
  return {
    deleted: m[1] !== undefined,
    ifindex: Number(m[2]),
    ifname: m[3] ?? '',
    address,
    prefixLength: Number(len),
    cidr: `${address}/${len}`,
    label: head.length > 0 ? head[head.length - 1] : undefined,
    validLft: lft(rest, 'valid_lft'),
    preferredLft: lft(rest, 'preferred_lft'),
  };
}

export function parseIpAddrOutput(stdout: string): IpAddrEntry[] {
  return stdout.split('\n').flatMap((line) => parseIpAddrLine(line) ?? []);
}
