import { describe, expect, it } from 'vitest';
import { configDigest, type DigestService } from './config-digest.js';
import { encodeControl, proof, type ControlMessage } from './handshake-messages.js';
import { DialerHandshake, ListenerHandshake, refuseStep, type HandshakeIdentity, type HandshakeStep } from './handshake-state.js';

const KEY = Buffer.from('0123456789abcdef-cluster-key');

const web = (backends: string[]): DigestService[] => [
  { name: 'web', mode: 'http', persistence: { type: 'source_ip', ttl_ms: 60_000 }, backends: backends.map((b, i) => ({ name: b, address: `10.0.0.${i + 1}`, port: 80 })), pools: [] },
];

/** Distinct, deterministic nonces per identity. */
function bytesFrom(fill: number): (n: number) => Buffer {
  return (n) => Buffer.alloc(n, fill);
}

function identity(node: string, over: Partial<HandshakeIdentity> = {}): HandshakeIdentity {
  return { key: KEY, cluster: '42', node, config: configDigest(web(['be1', 'be2'])), randomBytes: bytesFrom(node === 'lb1' ? 1 : 2), ...over };
}

function sent(step: HandshakeStep): ControlMessage {
  if (!step.send) throw new Error(`expected a message to send, got ${JSON.stringify(step)}`);
  return step.send;
}

/** Text over the wire both ways, as the adapter does, until a side is done or fails (bounded: a handshake is 4 messages). */
function run(dialer: DialerHandshake, listener: ListenerHandshake): { dialerSteps: HandshakeStep[]; listenerSteps: HandshakeStep[] } {
  const dialerSteps: HandshakeStep[] = [dialer.start()];
  const listenerSteps: HandshakeStep[] = [];
  for (let i = 0; i < 4; i++) {
    const last = dialerSteps.at(-1);
    if (!last?.send || last.fail) break;
    const ls = listener.receiveText(encodeControl(last.send));
    listenerSteps.push(ls);
    if (!ls.send || ls.fail) break;
    const ds = dialer.receiveText(encodeControl(ls.send));
    dialerSteps.push(ds);
    if (ds.done || ds.fail) break;
  }
  return { dialerSteps, listenerSteps };
}

describe('handshake: dialer and listener together', () => {
  it('authenticates both sides and ends done on both, with the epoch and role passed on', () => {
    const dialer = new DialerHandshake(identity('lb2'), 'standby');
    const listener = new ListenerHandshake(identity('lb1'), { epoch: () => 9 });
    const { dialerSteps, listenerSteps } = run(dialer, listener);
    expect(listenerSteps.map((s) => s.send?.type)).toEqual(['challenge', 'welcome']);
    expect(listenerSteps[1]?.done).toEqual({ peerNode: 'lb2', peerRole: 'standby' });
    expect(dialerSteps.at(-1)).toEqual({ done: { peerNode: 'lb1', epoch: 9 } });
    expect([dialer.state, listener.state]).toEqual(['done', 'done']);
  });

  it('welcome has no epoch when the listener has none', () => {
    const dialer = new DialerHandshake(identity('lb2'), 'master');
    const listener = new ListenerHandshake(identity('lb1'));
    const { dialerSteps, listenerSteps } = run(dialer, listener);
    expect(listenerSteps[1]?.send).not.toHaveProperty('epoch');
    expect(listenerSteps[1]?.done).toEqual({ peerNode: 'lb2', peerRole: 'master' });
    expect(dialerSteps.at(-1)?.done).toEqual({ peerNode: 'lb1' });
  });

  it('a listener with another key fails the dialer\'s check of the challenge (4401)', () => {
    const dialer = new DialerHandshake(identity('lb2'), 'standby');
    const listener = new ListenerHandshake(identity('lb1', { key: Buffer.from('another-cluster-key-0123') }));
    const { dialerSteps } = run(dialer, listener);
    const last = dialerSteps.at(-1);
    expect(last?.fail?.closeCode).toBe(4401);
    expect(last?.fail?.detail).toBe("authentication failed: lb1's challenge proof does not match our cluster key");
    expect(last?.send).toEqual({ type: 'refuse', code: 'auth_failed', reason: last?.fail?.detail });
    expect(dialer.state).toBe('failed');
  });

  it('a different config is refused by the listener, naming the difference (4409)', () => {
    const dialer = new DialerHandshake(identity('lb2', { config: configDigest(web(['be1'])) }), 'standby');
    const listener = new ListenerHandshake(identity('lb1'));
    const { dialerSteps, listenerSteps } = run(dialer, listener);
    const fail = listenerSteps.at(-1)?.fail;
    expect(fail?.closeCode).toBe(4409);
    expect(fail?.detail).toBe('config differs: services.web.pools.default.backends.be2: missing on peer');
    expect(listenerSteps.at(-1)?.send).toMatchObject({ type: 'refuse', code: 'config_mismatch' });
    // The dialer learns why from the refuse message.
    const refused = dialer.receive(sent(listenerSteps.at(-1) ?? {}));
    expect(refused).toEqual({
      fail: { closeCode: 4409, byPeer: true, detail: `peer refused (config_mismatch): ${fail?.detail}`, reason: expect.any(String) as string },
    });
    expect(dialerSteps).toHaveLength(2);
  });

  it('a different cluster id is refused at hello, before any proof (4403)', () => {
    const listener = new ListenerHandshake(identity('lb1'));
    const step = listener.receive(sent(new DialerHandshake(identity('lb2', { cluster: '43' }), 'standby').start()));
    expect(step.fail?.closeCode).toBe(4403);
    expect(step.fail?.detail).toBe('cluster id mismatch: hello.cluster is 43, this node is in cluster 42');
    expect(step.send).toMatchObject({ type: 'refuse', code: 'cluster_mismatch' });
  });
});

describe('listener', () => {
  const hello = (node = 'lb2', nonce = '0a'.repeat(32)): ControlMessage => ({ type: 'hello', version: 1, cluster: '42', node, nonce, role: 'standby' });
  const cfg = configDigest(web(['be1', 'be2']));

  it('refuses an auth whose proof was made without the key (4401), before looking at the config', () => {
    const listener = new ListenerHandshake(identity('lb1'));
    const challenge = sent(listener.receive(hello()));
    expect(challenge.type).toBe('challenge');
    const other = configDigest(web(['zzz']));
    const step = listener.receive({ type: 'auth', proof: 'e'.repeat(64), configDigest: other.digest, configSummary: other.summary });
    expect(step.fail?.closeCode).toBe(4401);
    expect(step.fail?.detail).toBe("authentication failed: lb2's auth proof does not match our cluster key");
  });

  it('refuses the listener\'s own challenge proof replayed as the dialer\'s auth proof', () => {
    const listener = new ListenerHandshake(identity('lb1'));
    const challenge = sent(listener.receive(hello()));
    if (challenge.type !== 'challenge') throw new Error('expected a challenge');
    const step = listener.receive({ type: 'auth', proof: challenge.proof, configDigest: cfg.digest, configSummary: cfg.summary });
    expect(step.fail?.closeCode).toBe(4401);
  });

  it('accepts an auth proof computed for its nonce, the hello nonce and the hello node only', () => {
    const make = () => {
      const listener = new ListenerHandshake(identity('lb1'));
      const challenge = sent(listener.receive(hello()));
      if (challenge.type !== 'challenge') throw new Error('expected a challenge');
      return { listener, nl: challenge.nonce };
    };
    const auth = (p: string): ControlMessage => ({ type: 'auth', proof: p, configDigest: cfg.digest, configSummary: cfg.summary });
    const a = make();
    expect(a.listener.receive(auth(proof(KEY, 'dialer', '0a'.repeat(32), a.nl, '42', 'lb3'))).fail?.closeCode).toBe(4401);
    const b = make();
    expect(b.listener.receive(auth(proof(KEY, 'dialer', '0a'.repeat(32), b.nl, '42', 'lb2'))).done).toEqual({ peerNode: 'lb2', peerRole: 'standby' });
  });

  it.each<[string, ControlMessage, string]>([
    ['auth first', { type: 'auth', proof: 'e'.repeat(64), configDigest: cfg.digest, configSummary: cfg.summary }, 'expected hello, got auth'],
    ['sync first', { type: 'sync', epoch: null, seq: null }, 'expected hello, got sync'],
    ['a challenge', { type: 'challenge', version: 1, cluster: '42', node: 'x', nonce: 'c'.repeat(64), proof: 'c'.repeat(64) }, 'expected hello, got challenge'],
  ])('refuses %s as a protocol error (4400)', (_what, msg, detail) => {
    const listener = new ListenerHandshake(identity('lb1'));
    const step = listener.receive(msg);
    expect(step.fail).toMatchObject({ closeCode: 4400, detail, byPeer: false });
    expect(step.send).toMatchObject({ type: 'refuse', code: 'protocol_error', reason: detail });
  });

  it('refuses a second hello in place of auth', () => {
    const listener = new ListenerHandshake(identity('lb1'));
    listener.receive(hello());
    expect(listener.receive(hello()).fail?.detail).toBe('expected auth, got hello');
  });

  it('refuses a peer using our node name, or our own nonce', () => {
    expect(new ListenerHandshake(identity('lb1')).receive(hello('lb1')).fail).toMatchObject({ closeCode: 4400, detail: 'hello.node: the peer uses our own node name lb1' });
    expect(new ListenerHandshake(identity('lb1')).receive(hello('lb2', '01'.repeat(32))).fail).toMatchObject({ closeCode: 4401, detail: 'hello.nonce: the peer sent our own nonce back' });
  });

  it('turns a malformed text frame into a refusal naming the field', () => {
    const step = new ListenerHandshake(identity('lb1')).receiveText('{"type":"hello","version":1,"cluster":"42","node":"lb2","nonce":"abc","role":"standby"}');
    expect(step.fail).toMatchObject({ closeCode: 4400, detail: 'hello.nonce: expected 64 hex chars (lowercase), got "abc"' });
    expect(step.send?.type).toBe('refuse');
  });

  it('times out with 4408 and answers nothing after it ended', () => {
    const listener = new ListenerHandshake(identity('lb1'));
    listener.receive(hello());
    const step = listener.timeout();
    expect(step.fail).toMatchObject({ closeCode: 4408, detail: 'handshake timed out (await_auth)' });
    expect(step.send).toMatchObject({ type: 'refuse', code: 'handshake_timeout' });
    expect(listener.state).toBe('failed');
    const after = listener.receive(hello());
    expect(after.send).toBeUndefined();
    expect(after.fail?.detail).toBe('handshake already over (failed)');
  });

  it('abort carries too-many-peers as 4429', () => {
    const step = new ListenerHandshake(identity('lb1')).abort(4429, 'too many peers (limit 8)');
    expect(step).toEqual(refuseStep(4429, 'too many peers (limit 8)'));
    expect(step.send).toEqual({ type: 'refuse', code: 'too_many_peers', reason: 'too many peers (limit 8)' });
  });
});

describe('dialer', () => {
  it('expects challenge first, and nothing before start()', () => {
    const cfg = configDigest(web(['be1', 'be2']));
    const welcome: ControlMessage = { type: 'welcome', configDigest: cfg.digest, configSummary: cfg.summary };
    expect(new DialerHandshake(identity('lb2'), 'standby').receive(welcome).fail?.detail).toBe('got welcome before hello was sent');
    const dialer = new DialerHandshake(identity('lb2'), 'standby');
    expect(sent(dialer.start()).type).toBe('hello');
    expect(dialer.receive(welcome).fail).toMatchObject({ closeCode: 4400, detail: 'expected challenge, got welcome' });
  });

  it('checks the welcome config too (4409), in case the listener skipped its check', () => {
    const dialer = new DialerHandshake(identity('lb2'), 'standby');
    const listener = new ListenerHandshake(identity('lb1'));
    const challenge = sent(listener.receive(sent(dialer.start())));
    expect(sent(dialer.receive(challenge)).type).toBe('auth');
    const other = configDigest(web(['be1', 'be3']));
    const step = dialer.receive({ type: 'welcome', configDigest: other.digest, configSummary: other.summary });
    expect(step.fail).toMatchObject({ closeCode: 4409, detail: 'config differs: services.web.pools.default.backends.be2: missing on peer' });
  });

  it('keeps the close reason within 123 bytes while the refuse message keeps the detail', () => {
    const long = `config differs: ${'services.some-very-long-service-name.pools.default.backends.'.repeat(4)}x: missing on peer`;
    const step = refuseStep(4409, long);
    expect(Buffer.byteLength(step.fail?.reason ?? '')).toBeLessThanOrEqual(123);
    expect(step.fail?.detail).toBe(long);
    expect(step.send).toMatchObject({ reason: long });
  });
});
