import { describe, expect, it } from 'vitest';
import { lossRules, ruleCounters } from './advert-loss.js';

// `iptables -L INPUT -v -x -n` as iptables-nft 1.8 prints it (protocol as a number).
const LISTING = `Chain INPUT (policy ACCEPT 1003 packets, 90270 bytes)
    pkts      bytes target     prot opt in     out     source               destination
     978    87042            17   --  *      *       0.0.0.0/0            0.0.0.0/0            udp dpt:7946 /* halo-chaos-advert-seen */
      36     3204 DROP       17   --  *      *       0.0.0.0/0            0.0.0.0/0            udp dpt:7946 statistic mode random probability 0.04999999981 /* halo-chaos-advert-loss */
`;

describe('advert loss rules', () => {
  it('count every advert first, then drop a random share of them, on the advert port', () => {
    const [seen, drop] = lossRules(7946, 0.05);
    expect(seen).toEqual(['INPUT', '-p', 'udp', '--dport', '7946', '-m', 'comment', '--comment', 'halo-chaos-advert-seen']);
    expect(drop?.slice(-2)).toEqual(['-j', 'DROP']);
    expect(drop).toEqual(expect.arrayContaining(['--probability', '0.05', '--dport', '7946']));
  });

  it('reads both rules\' packet counters', () => {
    expect(ruleCounters(LISTING)).toEqual({ seen: 978, dropped: 36 });
  });

  it('reads zeros when the rules are not there', () => {
    expect(ruleCounters('Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\n')).toEqual({ seen: 0, dropped: 0 });
  });
});
