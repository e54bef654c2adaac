import { describe, it, expect } from 'vitest';
import { selfTimes } from './cpuprofile.js';

const profile = {
  nodes: [
    { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 }, children: [2, 3] },
    { id: 2, callFrame: { functionName: 'pump', url: 'file:///repo/dist/adapters/proxy/tcp-proxy.js', lineNumber: 9 }, children: [] },
    { id: 3, callFrame: { functionName: '', url: 'node:internal/stream_base_commons', lineNumber: 0 }, children: [] },
  ],
  samples: [2, 2, 3, 2],
  timeDeltas: [1000, 3000, 2000, 4000],
};

describe('selfTimes', () => {
  it('adds the time of every sample to its function, most first, with short locations', () => {
    const rows = selfTimes(JSON.stringify(profile), '/repo/');
    expect(rows).toEqual([
      { name: 'pump', where: 'dist/adapters/proxy/tcp-proxy.js:10', ms: 8, percent: 80 },
      { name: '(anonymous)', where: 'node:internal/stream_base_commons:1', ms: 2, percent: 20 },
    ]);
  });
  it('rejects a file that is not a profile', () => {
    expect(() => selfTimes('{"nodes":[]}', '/')).toThrow(/not a V8 cpuprofile/);
  });
});
