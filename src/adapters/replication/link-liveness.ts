/**
 * A replication link that goes silent is dead: a cut cable or a DROP rule leaves the TCP
 * connection open for minutes, and TCP retransmits would resume it as if nothing had
 * happened, hiding the outage. Each side pings every quarter of the timeout; anything
 * received (a frame, a pong) proves the peer alive. Past the timeout the socket is
 * terminated, and the normal close path reconnects or forgets the peer.
 */
import type { WebSocket } from 'ws';

export function watchLiveness(ws: WebSocket, timeoutMs: number, onDead: (silentMs: number) => void): () => void {
  let lastSeen = performance.now();
  const seen = (): void => {
    lastSeen = performance.now();
  };
  ws.on('message', seen);
  ws.on('pong', seen);
  ws.on('ping', seen);
  const timer = setInterval(() => {
    const silent = performance.now() - lastSeen;
    if (silent > timeoutMs) {
      stop();
      onDead(Math.round(silent));
      ws.terminate();
      return;
    }
    if (ws.readyState === ws.OPEN) ws.ping();
  }, Math.max(25, Math.floor(timeoutMs / 4)));
  const stop = (): void => {
    clearInterval(timer);
    ws.off('message', seen);
    ws.off('pong', seen);
    ws.off('ping', seen);
  };
  ws.once('close', stop);
  return stop;
}
