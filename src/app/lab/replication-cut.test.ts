import { describe, expect, it } from 'vitest';
import { CUT_COMMENT, cutRules, ourRules } from './replication-cut.js';

describe('replication cut rules', () => {
  it('drop the port both ways in both chains, each rule tagged', () => {
    const rules = cutRules(7947);
    expect(rules.map((r) => `${r[0]} ${r[3]}`)).toEqual(['INPUT --dport', 'INPUT --sport', 'OUTPUT --dport', 'OUTPUT --sport']);
    for (const r of rules) {
      expect(r).toContain('7947');
      expect(r.slice(-4)).toEqual(['--comment', CUT_COMMENT, '-j', 'DROP']);
    }
  });

  it('restore finds exactly the tagged rules in `iptables -S`, whatever their port', () => {
    const listing = [
      '-P INPUT ACCEPT',
      '-P OUTPUT ACCEPT',
      `-A INPUT -p tcp -m tcp --dport 9000 -m comment --comment ${CUT_COMMENT} -j DROP`,
      '-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT',
      `-A OUTPUT -p tcp -m tcp --sport 9000 -m comment --comment ${CUT_COMMENT} -j DROP`,
      `-A OUTPUT -p tcp -m comment --comment ${CUT_COMMENT}-other -j DROP`,
      '',
    ].join('\n');
    expect(ourRules(listing)).toEqual([
      ['INPUT', '-p', 'tcp', '-m', 'tcp', '--dport', '9000', '-m', 'comment', '--comment', CUT_COMMENT, '-j', 'DROP'],
      ['OUTPUT', '-p', 'tcp', '-m', 'tcp', '--sport', '9000', '-m', 'comment', '--comment', CUT_COMMENT, '-j', 'DROP'],
    ]);
    expect(ourRules('-P INPUT ACCEPT\n')).toEqual([]);
  });
});
