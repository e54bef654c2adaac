import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { silentLogger, type LogFields, type Logger } from '../../adapters/logger.js';
import { parseControl } from '../../core/replication/handshake-messages.js';
import type { LogLine, LogsMessage } from '../../core/replication/log-messages.js';
import { LogRelay, type LogStore } from './log-relay.js';

/** The slice of a ws the relay uses: state, buffer, send, close. */
class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  readonly sent: string[] = [];
  send(text: string): void {
    this.sent.push(text);
  }
  lines(): LogLine[] {
    return this.sent.flatMap((t) => {
      const m = parseControl(t);
      return m.type === 'logs' ? [...m.lines] : [];
    });
  }
  close(): void {
    this.readyState = 3;
    this.emit('close');
  }
}
const asWs = (s: FakeSocket) => s as unknown as WebSocket;

class FakeStore implements LogStore {
  readonly node: string;
  readonly boot = 100;
  readonly own: LogLine[] = [];
  readonly others: LogLine[] = [];
  #listeners = new Set<(l: LogLine) => void>();
  #seq = 0;
  constructor(node: string) {
    this.node = node;
  }
  write(message: string, level: LogLine['level'] = 'info'): LogLine {
    const l: LogLine = { node: this.node, boot: this.boot, seq: ++this.#seq, at: 1000 + this.#seq, level, message, fields: {} };
    this.own.push(l);
    for (const f of this.#listeners) f(l);
    return l;
  }
  ownSince(): LogLine[] {
    return [...this.own];
  }
  since(): LogLine[] {
    return [...this.own, ...this.others].sort((a, b) => a.at - b.at);
  }
  onOwn(listener: (l: LogLine) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  add(lines: readonly LogLine[]): void {
    this.others.push(...lines);
  }
}

const from = (node: string, seq: number, boot = 7): LogLine => ({ node, boot, seq, at: 2000 + seq, level: 'info', message: `${node}-${seq}`, fields: {} });
const logs = (...lines: LogLine[]): LogsMessage => ({ type: 'logs', lines });
const messages = (l: readonly LogLine[]) => l.map((x) => x.message);

function relay(node: string, opts: { debug?: boolean; logger?: Logger; maxQueued?: number } = {}) {
  let now = 0;
  const store = new FakeStore(node);
  const r = new LogRelay({ store, now: () => now, forwardDebug: () => opts.debug === true, logger: opts.logger ?? silentLogger, limits: { flushEveryMs: 100, ...(opts.maxQueued !== undefined ? { maxQueued: opts.maxQueued } : {}) } });
  return { r, store, advance: (ms: number) => ((now += ms), r.tick()) };
}

describe('LogRelay', () => {
  it("a standby sends its own lines up, batched every flush interval; debug lines only at level debug", () => {
    const { r, store, advance } = relay('lb2');
    const up = new FakeSocket();
    r.attach(asWs(up), 'lb1', 'upstream');
    store.write('a');
    store.write('noise', 'debug');
    store.write('b');
    advance(50);
    expect(up.sent).toEqual([]);
    advance(50);
    expect(up.sent).toHaveLength(1);
    expect(messages(up.lines())).toEqual(['a', 'b']);

    const chatty = relay('lb3', { debug: true });
    const up3 = new FakeSocket();
    chatty.r.attach(asWs(up3), 'lb1', 'upstream');
    chatty.store.write('noise', 'debug');
    chatty.advance(100);
    expect(messages(up3.lines())).toEqual(['noise']);
  });

  it('a new link carries a backlog first: upstream our own lines, downstream everything we hold', () => {
    const { r, store, advance } = relay('lb1');
    store.write('mine');
    store.others.push(from('lb3', 1));
    const up = new FakeSocket();
    const down = new FakeSocket();
    r.attach(asWs(up), 'lb9', 'upstream');
    r.attach(asWs(down), 'lb2', 'downstream');
    advance(100);
    expect(messages(up.lines())).toEqual(['mine']);
    expect(messages(down.lines())).toEqual(['mine', 'lb3-1']);
  });

  it("a backlog goes in each origin's own order (what the peer's dedupe relies on), not in time order", () => {
    const { r, store, advance } = relay('lb1');
    // the election worker's line reaches the log after a main-thread line stamped later
    store.others.push({ ...from('lb3', 2), at: 10 }, { ...from('lb3', 1), at: 20 });
    const down = new FakeSocket();
    r.attach(asWs(down), 'lb2', 'downstream');
    advance(100);
    expect(down.lines().map((l) => l.seq)).toEqual([1, 2]);
  });

  it("the master relays a standby's new lines to the other standbys at once, never back to it, and keeps them", () => {
    const { r, store, advance } = relay('lb1');
    const a = new FakeSocket();
    const b = new FakeSocket();
    const c = new FakeSocket();
    r.attach(asWs(a), 'lb2', 'downstream');
    r.attach(asWs(b), 'lb3', 'downstream');
    r.attach(asWs(c), 'lb4', 'downstream');
    r.receive(asWs(a), logs(from('lb2', 1), from('lb2', 2)));
    // no tick needed: they already waited one batching interval at lb2
    expect(messages(b.lines())).toEqual(['lb2-1', 'lb2-2']);
    expect(messages(c.lines())).toEqual(['lb2-1', 'lb2-2']);
    expect(a.sent).toEqual([]);
    expect(messages(store.others)).toEqual(['lb2-1', 'lb2-2']);
    // a copy (the standby's backlog after a reconnect) is neither kept nor relayed again
    r.receive(asWs(a), logs(from('lb2', 2), from('lb2', 3)));
    expect(messages(store.others)).toEqual(['lb2-1', 'lb2-2', 'lb2-3']);
    expect(messages(b.lines())).toEqual(['lb2-1', 'lb2-2', 'lb2-3']);
    advance(100);
    expect(r.stats()).toMatchObject({ links: 3, received: 3, relayed: 6, duplicates: 1, rejected: 0 });
  });

  it("a standby may speak only for itself: other nodes' lines from it are refused, and nothing comes from an unattached socket", () => {
    const { r, store } = relay('lb1');
    const a = new FakeSocket();
    r.attach(asWs(a), 'lb2', 'downstream');
    r.receive(asWs(a), logs(from('lb3', 1), from('lb2', 1)));
    r.receive(asWs(new FakeSocket()), logs(from('lb2', 2)));
    expect(messages(store.others)).toEqual(['lb2-1']);
    expect(r.stats().rejected).toBe(2);
  });

  it("a standby keeps the master's and the other standbys' lines, drops its own echoed back, keeps its own from an earlier boot", () => {
    const { r, store } = relay('lb2');
    const up = new FakeSocket();
    r.attach(asWs(up), 'lb1', 'upstream');
    const mine = store.write('mine');
    r.receive(asWs(up), logs(from('lb1', 1), from('lb3', 1), mine, from('lb2', 9, 50)));
    expect(messages(store.others)).toEqual(['lb1-1', 'lb3-1', 'lb2-9']);
    expect(r.stats()).toMatchObject({ received: 3, duplicates: 1, relayed: 0 });
  });

  it('waits while the socket is backed up (tables first), and stops at close; stats stay cumulative', () => {
    const { r, store, advance } = relay('lb2');
    const up = new FakeSocket();
    r.attach(asWs(up), 'lb1', 'upstream');
    store.write('a');
    up.bufferedAmount = 10 * 1024 * 1024;
    advance(500);
    expect(up.sent).toEqual([]);
    up.bufferedAmount = 0;
    advance(1);
    expect(messages(up.lines())).toEqual(['a']);
    up.close();
    store.write('b');
    advance(500);
    expect(up.sent).toHaveLength(1);
    expect(r.stats()).toMatchObject({ links: 0, sent: 1 });
  });

  it('a full queue drops the oldest lines and says so once per interval, from tick (never from inside a log call)', () => {
    const warned: Array<{ event: string; fields: LogFields | undefined }> = [];
    let store: FakeStore | undefined;
    const logger: Logger = {
      ...silentLogger,
      // the warning is a line of this node like any other: it goes into the same full queue
      warn: (event, fields) => {
        warned.push({ event, fields });
        store?.write(event, 'warn');
      },
    };
    const t = relay('lb2', { logger, maxQueued: 3 });
    store = t.store;
    const up = new FakeSocket();
    up.bufferedAmount = 10 * 1024 * 1024;
    t.r.attach(asWs(up), 'lb1', 'upstream');
    for (let i = 0; i < 10; i++) t.store.write(`l${i}`);
    expect(warned).toEqual([]);
    t.advance(100);
    expect(warned.map((w) => [w.event, w.fields?.['count']])).toEqual([['logs_dropped', 7]]);
    for (let i = 0; i < 10; i++) t.store.write(`m${i}`);
    t.advance(100);
    expect(warned).toHaveLength(1);
    up.bufferedAmount = 0;
    t.advance(10_000);
    expect(warned.map((w) => w.fields?.['count'])).toEqual([7, 11]);
    expect(messages(up.lines()).slice(0, 3)).toEqual(['m7', 'm8', 'm9']);
    // 7 + the first warning + 10
    expect(t.r.stats().dropped).toBe(18);
  });
});
