import { describe, expect, it } from 'vitest';
import { vipChange } from './vip-monitor.js';

describe('vipChange: one `ip monitor address` line', () => {
  it('an added or refreshed VIP is held, a Deleted line is not, anything else says nothing', () => {
    expect(vipChange('3: eth0    inet 10.77.0.100/24 scope global dynamic eth0', '10.77.0.100')).toBe(true);
    expect(vipChange('Deleted 3: eth0    inet 10.77.0.100/24 scope global dynamic eth0', '10.77.0.100')).toBe(false);
    expect(vipChange('       valid_lft 30sec preferred_lft 30sec', '10.77.0.100')).toBeUndefined();
    expect(vipChange('3: eth0    inet 10.77.0.11/24 scope global eth0', '10.77.0.100')).toBeUndefined();
    expect(vipChange('3: eth0    inet 10.77.0.1000/24 scope global eth0', '10.77.0.100')).toBeUndefined();
  });
});
