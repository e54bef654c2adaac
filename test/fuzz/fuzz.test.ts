/**
 * The CI form of the parser fuzzers: every target with a fixed seed and a small budget
 * (the long form is `npm run fuzz`), plus, per target, the same properties run against
 * a deliberately broken decoder to show they can fail.
 */
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { decodeAdvert } from '../../src/core/election/advert.js';
import { parseConfig } from '../../src/config/load.js';
import { decodeProxyHeader } from '../../src/core/proxy-protocol.js';
import { parseControl } from '../../src/core/replication/handshake-messages.js';
import { decodeFrame } from '../../src/core/replication/wire-frames.js';
import { mutateBytes, mutateText, runTarget, splitRuns, type FuzzTarget, type TargetOutcome } from './harness.js';
import { createAdvertTarget, resign } from './targets/advert.js';
import { createConfigTarget } from './targets/config.js';
import { FUZZ_TARGETS } from './targets/index.js';
import { createProxyTarget, type ProxyDecoder } from './targets/proxy-protocol.js';
import { createReplicationTarget } from './targets/replication.js';

const CI_SEED = 20_260_601;

function failureText(r: TargetOutcome): string {
  return r.outcomes
    .filter((o) => o.failed)
    .map((o) => `${r.target}/${o.property}: ${o.report}\nreplay: npm run fuzz -- --target ${r.target} --property ${o.property} --seed ${o.seed} --path ${o.counterexamplePath ?? ''}`)
    .join('\n\n');
}

/** The first failing property of a target run against a broken decoder, with its report. */
function firstFailure(target: FuzzTarget, runs: number, only?: string): { property: string; report: string } | undefined {
  const r = runTarget(target, runs, CI_SEED, only === undefined ? {} : { only });
  const f = r.outcomes.find((o) => o.failed);
  return f === undefined ? undefined : { property: f.property, report: f.report };
}

describe('parser fuzzing, fixed seed', () => {
  it('covers the four parsers with default budgets adding up to a million runs', () => {
    expect(FUZZ_TARGETS.map((t) => t.name)).toEqual(['advert', 'replication', 'proxy', 'config']);
    const total = FUZZ_TARGETS.reduce((s, t) => s + splitRuns(t, t.defaultRuns).reduce((a, n) => a + n, 0), 0);
    expect(total).toBeGreaterThanOrEqual(1_000_000);
  });

  it.each(FUZZ_TARGETS.map((t) => [t.name, t] as const))('%s: no throw escapes, every rejection has a known code', (_name, target) => {
    const r = runTarget(target, target.ciRuns, CI_SEED);
    expect(r.failed, failureText(r)).toBe(false);
    expect(r.numRuns).toBe(splitRuns(target, target.ciRuns).reduce((s, n) => s + n, 0));
  });
});

describe('the properties can fail', () => {
  it('advert: a decoder that does not check the HMAC accepts mutated adverts', () => {
    const noHmac = createAdvertTarget((buf, key, clusterId) => decodeAdvert(resign(buf, key), key, clusterId));
    const f = firstFailure(noHmac, 2_000, 'mutated');
    expect(f?.report).toMatch(/a mutated advert was accepted|accepted under the wrong key/);
  });

  it('replication: a codec that shifts firstSeq fails the round trip', () => {
    const offByOne = createReplicationTarget({
      decodeFrame: (buf, dict) => {
        const f = decodeFrame(buf, dict);
        return f.type === 'updates' ? { ...f, firstSeq: f.firstSeq + 1 } : f;
      },
      parseControl,
    });
    expect(firstFailure(offByOne, 2_000, 'frame-round-trip')?.report).toContain('round trip changed');
  });

  it('replication: a control parser that lets JSON.parse throw is caught', () => {
    const bareJson = createReplicationTarget({
      decodeFrame,
      parseControl: (text) => {
        JSON.parse(text);
        return parseControl(text);
      },
    });
    expect(firstFailure(bareJson, 2_000, 'control-mutated-text')?.report).toMatch(/parseControl threw SyntaxError/);
  });

  it('proxy: a v1 decoder that takes address text as it stands is caught by the node:net oracle', () => {
    const lenient: ProxyDecoder = (buf) => {
      const r = decodeProxyHeader(buf);
      if (r.status !== 'invalid' || r.code !== 'v1_address') return r;
      const text = Buffer.from(buf).toString('latin1');
      const end = text.indexOf('\r\n');
      const [, , src = '', dst = '', sport = '0', dport = '0'] = text.slice(0, end).split(' ');
      return {
        status: 'ok',
        length: end + 2,
        header: { version: 1, command: 'proxy', family: 'inet6', transport: 'stream', source: { address: src, port: Number(sport) }, destination: { address: dst, port: Number(dport) }, tlvs: [] },
      };
    };
    expect(firstFailure(createProxyTarget(lenient), 4_000, 'v1-grammar')?.report).toMatch(/address .* is not one|node:net disagrees/);
  });

  it('config: the loader as it was (aliases resolved outside the guard) leaks a ReferenceError', () => {
    const unguarded = createConfigTarget((text, source) => {
      parseDocument(text).toJS();
      return parseConfig(text, source);
    });
    expect(firstFailure(unguarded, 2_000, 'random-text')?.report).toMatch(/parseConfig threw ReferenceError/);
  });
});

describe('mutators', () => {
  it('apply flips, inserts, deletes and truncation at positions taken modulo the length', () => {
    const base = Uint8Array.from([1, 2, 3, 4]);
    expect([...mutateBytes(base, [{ kind: 'flip', pos: 5, bit: 0 }])]).toEqual([1, 3, 3, 4]);
    expect([...mutateBytes(base, [{ kind: 'insert', pos: 4, bytes: Uint8Array.from([9]) }])]).toEqual([1, 2, 3, 4, 9]);
    expect([...mutateBytes(base, [{ kind: 'delete', pos: 1, len: 2 }])]).toEqual([1, 4]);
    expect([...mutateBytes(base, [{ kind: 'duplicate', pos: 2, len: 1 }])]).toEqual([1, 2, 3, 3, 4]);
    expect([...mutateBytes(base, [{ kind: 'truncate', pos: 7 }])]).toEqual([1, 2, 3]);
    expect([...base]).toEqual([1, 2, 3, 4]);
    expect(mutateText('abcd', [{ kind: 'replace', pos: 1, len: 2, text: '*a' }])).toBe('a*ad');
  });
});
