import { describe, it, expect } from 'vitest';
import { listeningIn } from './procs.js';

const TABLE = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:5D3D 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:5D3E 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1
   2: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0
`;

describe('listeningIn', () => {
  it('finds a listener on loopback or any address', () => {
    expect(listeningIn(TABLE, 0x5d3d)).toBe(true);
    expect(listeningIn(TABLE, 80)).toBe(true);
  });
  it('ignores established connections and other ports', () => {
    expect(listeningIn(TABLE, 0x5d3e)).toBe(false);
    expect(listeningIn(TABLE, 8080)).toBe(false);
  });
});
