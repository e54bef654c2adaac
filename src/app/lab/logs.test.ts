import { afterAll, describe, expect, it } from 'vitest';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastLines, renderLine, tailLogs } from './logs.js';

const dir = mkdtempSync(join(tmpdir(), 'halo-lab-logs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ev = (t: string, message: string, extra: Record<string, unknown> = {}) => JSON.stringify({ level: 'info', message, node: 'x', timestamp: `2026-01-01T${t}Z`, ...extra });

describe('lab logs', () => {
  it('renders a JSON event like the text log, without the node (it is the prefix)', () => {
    expect(renderLine(ev('10:00:00.001', 'state_change', { state: 'MASTER', cause: 'no advert for 150 ms' }))).toBe('10:00:00.001 INFO  state_change state=MASTER cause="no advert for 150 ms"');
    expect(renderLine('not json')).toBe('not json');
    expect(renderLine('{"event":"demo_backend_ready"}')).toBe('{"event":"demo_backend_ready"}');
  });

  it('lastLines leaves out a line still being written', () => {
    const f = join(dir, 'partial.log');
    writeFileSync(f, 'a\nb\nc\npart');
    expect(lastLines(f, 2)).toEqual({ lines: ['b', 'c'], end: 6 });
    expect(lastLines(join(dir, 'missing.log'), 2)).toEqual({ lines: [], end: 0 });
  });

  it('merges the files by timestamp, prefixed and aligned; follow prints new lines and stops on abort', async () => {
    const a = join(dir, 'lb1.log');
    const b = join(dir, 'client.log');
    writeFileSync(a, `${ev('10:00:00.000', 'one')}\n${ev('10:00:02.000', 'three')}\n`);
    writeFileSync(b, `${ev('10:00:01.000', 'two')}\n`);
    const out: string[] = [];
    const ac = new AbortController();
    const sources = [{ name: 'lb1', path: a }, { name: 'client', path: b }];
    const done = tailLogs(sources, { follow: true, write: (l) => out.push(l), signal: ac.signal, pollMs: 10 });
    appendFileSync(b, `${ev('10:00:03.000', 'four')}\n${ev('10:00:04.000', 'unfinished')}`);
    for (let i = 0; i < 200 && out.length < 4; i++) await new Promise((r) => setTimeout(r, 10));
    ac.abort();
    await done;
    expect(out).toEqual([
      'lb1    | 10:00:00.000 INFO  one',
      'client | 10:00:01.000 INFO  two',
      'lb1    | 10:00:02.000 INFO  three',
      'client | 10:00:03.000 INFO  four',
    ]);
  });
});
