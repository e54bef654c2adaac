/**
 * A silent replication link is declared dead: real WebSockets on loopback, the far end
 * stops reading (as behind a DROP rule), and the watcher terminates the socket.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { watchLiveness } from '../../src/adapters/replication/link-liveness.js';

describe('replication link liveness', () => {
  let http: Server | undefined;
  const clients: WebSocket[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.terminate();
    await new Promise<void>((r) => (http ? http.close(() => r()) : r()));
    http = undefined;
  });

  async function pair(): Promise<{ client: WebSocket; serverSide: Promise<WebSocket> }> {
    http = createServer();
    const wss = new WebSocketServer({ server: http });
    const serverSide = new Promise<WebSocket>((r) =>
      wss.once('connection', (ws) => {
        clients.push(ws);
        r(ws);
      }),
    );
    await new Promise<void>((r) => http?.listen(0, '127.0.0.1', () => r()));
    const port = (http.address() as AddressInfo).port;
    const client = new WebSocket(`ws://127.0.0.1:${port}/`);
    clients.push(client);
    await new Promise((r) => client.once('open', r));
    return { client, serverSide };
  }

  it('keeps a link whose peer answers pings', async () => {
    const { client } = await pair();
    let dead = false;
    const stop = watchLiveness(client, 200, () => (dead = true));
    await new Promise((r) => setTimeout(r, 700));
    expect(dead).toBe(false);
    expect(client.readyState).toBe(WebSocket.OPEN);
    stop();
  });

  it('terminates a link whose peer went silent, after the timeout and not long after', async () => {
    const { client, serverSide } = await pair();
    const far = await serverSide;
    // the far end stops reading: no pong, no frames, the TCP connection stays up
    (far as unknown as { _socket: Socket })._socket.pause();
    const started = performance.now();
    const silentMs = await new Promise<number>((r) => watchLiveness(client, 200, r));
    const closed = await new Promise<boolean>((r) => {
      if (client.readyState === WebSocket.CLOSED) r(true);
      else client.once('close', () => r(true));
    });
    expect(closed).toBe(true);
    expect(silentMs).toBeGreaterThanOrEqual(200); // rounded to whole ms
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
