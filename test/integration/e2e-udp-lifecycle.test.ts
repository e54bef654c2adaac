/**
 * UDP flows and the process lifecycle through `halo run` with real demo backends:
 * flows stay on one backend, replies come from the service address, a flood of unique
 * sources beyond the flow cap is dropped while existing flows keep working; SIGTERM
 * drains and exits 0; a port in use fails start-up with a clear cause.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { Agent } from 'node:http';
import { freePort, killAll, startDemoBackend, startHalo, type Proc } from '../helpers/processes.js';
import { get } from '../helpers/http-client.js';

let halo: Proc | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  await halo?.kill('SIGKILL');
  halo = undefined;
  for (const s of sockets.splice(0)) s.close();
});
afterAll(killAll);

async function udpClient(): Promise<Socket> {
  const s = createSocket('udp4');
  sockets.push(s);
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

/** Send one datagram and wait for the reply (or undefined after timeoutMs). */
function ask(s: Socket, port: number, text: string, timeoutMs = 1000): Promise<{ text: string; from: number } | undefined> {
  return new Promise((resolve) => {
    const onMsg = (msg: Buffer, rinfo: { port: number }) => {
      clearTimeout(timer);
      resolve({ text: msg.toString(), from: rinfo.port });
    };
    const timer = setTimeout(() => {
      s.off('message', onMsg);
      resolve(undefined);
    }, timeoutMs);
    s.once('message', onMsg);
    s.send(text, port, '127.0.0.1');
  });
}

describe('udp through halo run', () => {
  it('keeps each flow on one backend, answers from the service port, and caps flows', async () => {
    const list = await Promise.all([1, 2, 3].map((i) => startDemoBackend(`u${i}`, { udp: true })));
    const port = await freePort();
    halo = await startHalo({
      services: [
        {
          name: 'dns',
          mode: 'udp',
          listen: { address: '127.0.0.1', port },
          backends: list.map((b) => ({ name: b.name, address: '127.0.0.1', port: b.udp })),
          limits: { max_flows: 20 },
        },
      ],
    });
    const clients = await Promise.all(Array.from({ length: 6 }, () => udpClient()));
    const owner = new Map<Socket, string>();
    for (const c of clients) {
      for (let i = 0; i < 5; i++) {
        const r = await ask(c, port, `ping${i}`);
        expect(r?.from).toBe(port);
        const backend = r!.text.split(':')[0]!;
        expect(r!.text).toBe(`${backend}:ping${i}`);
        if (!owner.has(c)) owner.set(c, backend);
        expect(backend).toBe(owner.get(c));
      }
    }
    expect(new Set(owner.values()).size).toBe(3);

    // A flood of new sources beyond the cap: the table stays at 20 by evicting the least
    // recently seen flow, so every new source is served (none locked out by the flood)...
    const flood: Socket[] = [];
    for (let i = 0; i < 40; i++) flood.push(await udpClient());
    const answers: Array<Awaited<ReturnType<typeof ask>>> = [];
    for (const s of flood) answers.push(await ask(s, port, 'flood', 700));
    expect(answers.filter((a) => a === undefined).length).toBe(0);
    // ...and the last 20 flood sources hold the table: asked again, each keeps its backend,
    const last = flood.slice(-20);
    for (const [i, s] of last.entries()) expect((await ask(s, port, 'again'))?.text).toBe(`${answers[20 + i]!.text.split(':')[0]!}:again`);
    // while the six first clients were evicted long ago and are simply served anew.
    for (const c of clients) expect((await ask(c, port, 'still'))?.text).toMatch(/^u[123]:still$/);
  });
});

describe('lifecycle', () => {
  it('SIGTERM stops accepting, drains, and exits 0', async () => {
    const b = await startDemoBackend('drain', { delayMs: 400 });
    const port = await freePort();
    halo = await startHalo({
      services: [{ name: 'web', mode: 'http', listen: { address: '127.0.0.1', port }, backends: [{ name: 'drain', address: '127.0.0.1', port: b.http }], timeouts: { drain_ms: 3000 } }],
    });
    const agent = new Agent({ keepAlive: true });
    const inFlight = get(port, '/', { agent });
    await new Promise((r) => setTimeout(r, 100));
    const exited = once(halo.child, 'exit');
    halo.child.kill('SIGTERM');
    const reply = await inFlight;
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('drain\n');
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
    expect(halo.events.map((e) => e['message'])).toEqual(expect.arrayContaining(['node_stopping', 'node_stopped']));
    agent.destroy();
    await expect(get(port, '/', { timeoutMs: 1000 })).rejects.toThrow(/ECONNREFUSED/);
  });

  it('a listen port in use fails start-up, naming the service and the address', async () => {
    const blocker = createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const port = (blocker.address() as { port: number }).port;
    try {
      halo = await startHalo({ services: [{ name: 'clash', mode: 'tcp', listen: { address: '127.0.0.1', port }, backends: [{ name: 'x', address: '127.0.0.1', port: 1 }] }] });
      const failed = await halo.waitFor((e) => e['message'] === 'start_failed');
      expect(String(failed['cause'])).toContain(`service clash: cannot listen on tcp 127.0.0.1:${port}: EADDRINUSE`);
      const [code] = (await once(halo.child, 'exit')) as [number | null];
      expect(code).toBe(1);
    } finally {
      blocker.close();
    }
  });
});
