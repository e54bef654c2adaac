import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { shebangSettings } from './setup.js';

describe('shebangSettings', () => {
  it('reads env assignments and node flags from an env -S shebang', () => {
    expect(shebangSettings('#!/usr/bin/env -S A_=1 B=two node --x=3 --y\nrest')).toEqual({ env: { A_: '1', B: 'two' }, nodeFlags: ['--x=3', '--y'] });
    expect(shebangSettings('#!/usr/bin/env node\n')).toEqual({ env: {}, nodeFlags: [] });
    expect(shebangSettings('no shebang')).toEqual({ env: {}, nodeFlags: [] });
  });

  it("finds bin/halo.js's memory settings", () => {
    const s = shebangSettings(readFileSync(new URL('../../bin/halo.js', import.meta.url), 'utf8'));
    expect(Object.keys(s.env).sort()).toEqual(['MALLOC_TOP_PAD_', 'MALLOC_TRIM_THRESHOLD_']);
    expect(s.nodeFlags).toContain('--max-semi-space-size=32');
  });
});
