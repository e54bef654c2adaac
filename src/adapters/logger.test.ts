import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, type LogEntry } from './logger.js';

function capture() {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      out.push(String(chunk));
      cb();
    },
  });
  return { out, stream };
}

describe('createLogger tap', () => {
  it('hands each entry, with child fields and the node, as plain data; the output is unchanged', async () => {
    const { out, stream } = capture();
    const got: LogEntry[] = [];
    const log = createLogger({ node: 'lb1', stream, format: 'text', tap: (e) => got.push(e) });
    log.child({ component: 'election' }).info('state_change', { state: 'MASTER', err: new Error('boom') });
    await new Promise((r) => setImmediate(r));
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ level: 'info', message: 'state_change', node: 'lb1', component: 'election', state: 'MASTER', err: 'boom' });
    expect(Date.parse(got[0]!.timestamp)).toBeGreaterThan(0);
    expect(out.join('')).toMatch(/INFO  state_change component=election node=lb1 state=MASTER/);
  });

  it('follows the level, also after setLevel', () => {
    const { stream } = capture();
    const got: string[] = [];
    const log = createLogger({ level: 'info', stream, format: 'json', tap: (e) => got.push(e.message) });
    log.debug('hidden');
    log.setLevel('debug');
    log.debug('shown');
    expect(got).toEqual(['shown']);
  });

  it('a throwing tap does not cost the line', async () => {
    const { out, stream } = capture();
    const log = createLogger({ stream, format: 'json', tap: () => {
      throw new Error('x');
    } });
    log.warn('still_here');
    await new Promise((r) => setImmediate(r));
    expect(out.join('')).toContain('"message":"still_here"');
  });
});
