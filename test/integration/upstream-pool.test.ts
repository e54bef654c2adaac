/** The HTTP proxy's backend connection pool on real sockets, with a hand-driven clock. */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { UpstreamPool, type UpstreamConn, type UpstreamOwner } from '../../src/adapters/proxy/upstream-pool.js';
import type { BackendTarget } from '../../src/core/service/dispatcher-types.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

class Owner implements UpstreamOwner {
  events: string[] = [];
  closed: Promise<string | undefined>;
  private resolveClosed!: (cause: string | undefined) => void;
  constructor() {
    this.closed = new Promise((r) => (this.resolveClosed = r));
  }
  onUpstreamConnect(): void {
    this.events.push('connect');
  }
  onUpstreamData(_up: UpstreamConn, chunk: Buffer): void {
    this.events.push(`data:${chunk.toString()}`);
  }
  onUpstreamDrain(): void {}
  onUpstreamClose(_up: UpstreamConn, cause: string | undefined): void {
    this.events.push(`close:${cause ?? ''}`);
    this.resolveClosed(cause);
  }
  onInternalError(): void {
    this.events.push('internal');
  }
}

async function listen(onSocket: (s: net.Socket) => void = () => {}): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    onSocket(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise((r) => server.close(r));
  });
  return (server.address() as net.AddressInfo).port;
}

function setup(idleMs = 1000) {
  const clock = { t: 0, now: () => clock.t };
  const errors: unknown[] = [];
  const pool = new UpstreamPool({ clock, idleMs, maxIdlePerBackend: 2, onError: (e) => errors.push(e) });
  cleanups.push(() => pool.destroyAll());
  return { clock, pool, errors };
}

const target = (port: number, name = 'b1'): BackendTarget => ({ pool: 'default', name, address: '127.0.0.1', port });

describe('UpstreamPool', () => {
  it('fails a connection still connecting after connect_ms', async () => {
    const port = await listen();
    const { clock, pool } = setup();
    const owner = new Owner();
    pool.connect(target(port), owner);
    clock.t = 500;
    pool.sweep(clock.now(), 500);
    expect(await owner.closed).toBe('connect timeout');
    expect(owner.events).toEqual(['close:connect timeout']);
    expect(pool.size).toBe(0);
  });

  it('reuses released connections per backend, most recent first, and caps idle ones', async () => {
    const port = await listen();
    const { pool } = setup();
    const owners = [new Owner(), new Owner(), new Owner()];
    const ups = owners.map((o) => pool.connect(target(port), o));
    for (let i = 0; i < 100 && ups.some((u) => !u.connected); i++) await new Promise((r) => setTimeout(r, 10));
    for (const up of ups) pool.release(up);
    expect(pool.idleCount).toBe(2);
    // The third went over the cap and was closed (released connections have no owner to tell).
    for (let i = 0; i < 100 && pool.size > 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(pool.size).toBe(2);
    expect(ups[2]!.closed).toBe(true);
    const next = new Owner();
    expect(pool.acquire(target(port, 'other'), next)).toBeUndefined();
    const got = pool.acquire(target(port), next);
    expect(got).toBe(ups[1]);
    expect(got?.owner).toBe(next);
    expect(got?.served).toBe(1);
  });

  it('drops an idle connection the backend closes or talks on, and closes idle ones after idleMs', async () => {
    const peers: net.Socket[] = [];
    const port = await listen((s) => peers.push(s));
    const { clock, pool } = setup(1000);
    const ups = [new Owner(), new Owner()].map((o) => pool.connect(target(port), o));
    for (let i = 0; i < 100 && (ups.some((u) => !u.connected) || peers.length < 2); i++) await new Promise((r) => setTimeout(r, 10));
    for (const up of ups) pool.release(up);
    expect(pool.idleCount).toBe(2);
    peers[0]!.end();
    peers[1]!.write('unsolicited');
    for (let i = 0; i < 100 && pool.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(pool.size).toBe(0);
    expect(pool.idleCount).toBe(0);

    const again = pool.connect(target(port), new Owner());
    for (let i = 0; i < 100 && !again.connected; i++) await new Promise((r) => setTimeout(r, 10));
    pool.release(again);
    clock.t += 999;
    pool.sweep(clock.now(), 1000);
    expect(pool.idleCount).toBe(1);
    clock.t += 1;
    pool.sweep(clock.now(), 1000);
    for (let i = 0; i < 100 && pool.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(pool.size).toBe(0);
  });
});
