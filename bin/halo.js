#!/usr/bin/env -S MALLOC_TOP_PAD_=33554432 MALLOC_TRIM_THRESHOLD_=134217728 node
// Entry point: runs the compiled CLI (npm run build produces dist/).
//
// The shebang sets glibc malloc's top pad and trim threshold. Every socket read gets a
// fresh 64 KiB buffer; with glibc's defaults the heap top is trimmed and regrown all the
// time, and each regrown page is a page fault: measured 340,000 minor faults and
// 650 MB/s through the tcp proxy in 3 s, against 1,200 faults and 900-1,500 MB/s with
// these settings (docs/benchmarks.md). `node bin/halo.js` skips the shebang: run the
// file itself, or set the two variables, when throughput matters.
import { main } from '../dist/app/cli.js';

main(process.argv.slice(2)).then(
  (code) => { if (typeof code === 'number') process.exitCode = code; },
  (err) => { console.error(err instanceof Error ? err.message : err); process.exitCode = 1; },
);
