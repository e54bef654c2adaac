#!/usr/bin/env -S MALLOC_TOP_PAD_=33554432 MALLOC_TRIM_THRESHOLD_=134217728 node --max-semi-space-size=32
// Entry point: runs the compiled CLI (npm run build produces dist/).
//
// The shebang tunes memory for the data plane, where every socket read gets a fresh
// 64 KiB buffer (measured through the tcp proxy with iperf3, docs/benchmarks.md):
// - glibc malloc's top pad and trim threshold: with the defaults the heap top is trimmed
//   and regrown constantly and every regrown page is a fault (340,000 minor faults and
//   650 MB/s in 3 s, against 1,200 faults and 900+ MB/s with these);
// - a 32 MB young generation: fewer scavenges of those buffers (900 -> 1,400 MB/s).
// Resident memory stayed about 105 MB either way. `node bin/halo.js` skips the shebang:
// run the file itself, or pass the same settings, when throughput matters.
import { main } from '../dist/app/cli.js';

main(process.argv.slice(2)).then(
  (code) => { if (typeof code === 'number') process.exitCode = code; },
  (err) => { console.error(err instanceof Error ? err.message : err); process.exitCode = 1; },
);
