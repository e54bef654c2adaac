/**
 * The client agent against real demo backends on loopback (no namespaces needed): each
 * mode reports who answered, and ends when told or when its time is up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoBackend, type DemoBackend } from '../demo-backend.js';
import { startClientAgent } from './client-agent.js';
import { parseClientEvent, parseClientJob, type ClientEvent } from './client-jobs.js';
import { summarizeUdp } from './udp-losses.js';

function collect(): { events: ClientEvent[]; write: (line: string) => void } {
  const events: ClientEvent[] = [];
  return { events, write: (line) => { const e = parseClientEvent(line); if (e) events.push(e); } };
}

describe('client agent on loopback', () => {
  let backend: DemoBackend;
  beforeAll(async () => {
    backend = await startDemoBackend({ name: 'be9', host: '127.0.0.1', http: 0, udp: 0 });
  });
  afterAll(async () => {
    await backend.close();
  });

  it('http: one event per request with its source, backend and status; start first, done last', async () => {
    const c = collect();
    const job = parseClientJob({ mode: 'http', host: '127.0.0.1', port: backend.ports.http, requests: [{ source: '127.0.0.1' }, { cookie: 'a=b' }, { path: '/healthz' }], concurrency: 2 });
    await startClientAgent(job, c.write).done;
    expect(c.events[0]?.type).toBe('start');
    expect(c.events.at(-1)).toMatchObject({ type: 'done', reason: 'finished' });
    const http = c.events.flatMap((e) => (e.type === 'http' ? [e] : [])).sort((a, b) => a.i - b.i);
    expect(http.map((e) => [e.i, e.ok, e.backend ?? '-', e.source ?? '-'])).toEqual([[0, true, 'be9', '127.0.0.1'], [1, true, 'be9', '-'], [2, true, '-', '-']]);
  });

  it('http: a refused connection is a failed request, not a failed run', async () => {
    const c = collect();
    await startClientAgent(parseClientJob({ mode: 'http', host: '127.0.0.1', port: 1, requests: [{}], timeoutMs: 1000 }), c.write).done;
    expect(c.events.find((e) => e.type === 'http')).toMatchObject({ ok: false, error: 'ECONNREFUSED' });
  });

  it('udp: numbered datagrams every interval, each answer names the backend; stop ends it early', async () => {
    const c = collect();
    const agent = startClientAgent(parseClientJob({ mode: 'udp', host: '127.0.0.1', port: backend.ports.udp, intervalMs: 5, durationMs: 10_000, timeoutMs: 100 }), c.write);
    await new Promise((r) => setTimeout(r, 200));
    agent.stop('enough');
    await agent.done;
    const s = summarizeUdp(c.events);
    expect(s.sent).toBeGreaterThan(5);
    expect(s.sent).toBeLessThan(200);
    expect(s.answered).toBe(s.sent);
    expect(Object.keys(s.backends)).toEqual(['be9']);
    expect(c.events.at(-1)).toMatchObject({ type: 'done', reason: 'enough' });
  });

  it('tcp: connections held until closed by command or by the end; each learns its backend', async () => {
    const c = collect();
    const agent = startClientAgent(parseClientJob({ mode: 'tcp', host: '127.0.0.1', port: backend.ports.http, sources: ['127.0.0.1', '127.0.0.2', '127.0.0.3'], holdMs: 20_000 }), c.write);
    const deadline = Date.now() + 5000;
    while (c.events.filter((e) => e.type === 'tcp_open').length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(c.events.filter((e) => e.type === 'tcp_open').map((e) => (e.type === 'tcp_open' ? `${e.i}:${e.source}:${e.backend ?? '-'}` : ''))).toEqual(['0:127.0.0.1:be9', '1:127.0.0.2:be9', '2:127.0.0.3:be9']);
    agent.command({ close: [1] });
    expect(c.events.filter((e) => e.type === 'tcp_closed')).toMatchObject([{ i: 1, by: 'us' }]);
    agent.command({ end: true });
    await agent.done;
    expect(c.events.filter((e) => e.type === 'tcp_closed').map((e) => (e.type === 'tcp_closed' ? e.i : -1)).sort()).toEqual([0, 1, 2]);
    expect(c.events.at(-1)).toMatchObject({ type: 'done', reason: 'told to end' });
  });

  it('tcp: a source that cannot connect is reported and the rest go on; the hold ends the run', async () => {
    const c = collect();
    await startClientAgent(parseClientJob({ mode: 'tcp', host: '127.0.0.1', port: 1, sources: ['127.0.0.1'], holdMs: 50, timeoutMs: 1000 }), c.write).done;
    expect(c.events.find((e) => e.type === 'tcp_failed')).toMatchObject({ i: 0, error: 'ECONNREFUSED' });
    expect(c.events.at(-1)).toMatchObject({ type: 'done', reason: 'finished' });
  });
});
