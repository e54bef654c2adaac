/**
 * Summarises a V8 .cpuprofile (node --cpu-prof) as self time per function: where the
 * proxy's own CPU goes, the hint for what to make faster.
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  readonly name: string;
  readonly where: string;
  readonly ms: number;
  readonly percent: number;
}

function isProfile(x: unknown): x is CpuProfile {
  const p = x as Partial<CpuProfile> | null;
  return !!p && Array.isArray(p.nodes) && Array.isArray(p.samples) && Array.isArray(p.timeDeltas);
}

/** Shortens file:///work/main/dist/adapters/x.js to dist/adapters/x.js, node:internal stays. */
function shortUrl(url: string, root: string): string {
  if (url === '') return '';
  const plain = url.startsWith('file://') ? url.slice('file://'.length) : url;
  return plain.startsWith(root) ? plain.slice(root.length).replace(/^\//, '') : plain;
}

export function selfTimes(profileJson: string, root: string): SelfTime[] {
  const doc: unknown = JSON.parse(profileJson);
  if (!isProfile(doc)) throw new Error('not a V8 cpuprofile (needs nodes, samples, timeDeltas)');
  const byId = new Map<number, ProfileNode>();
  for (const n of doc.nodes) byId.set(n.id, n);
  const totals = new Map<string, { name: string; where: string; us: number }>();
  let all = 0;
  const count = Math.min(doc.samples.length, doc.timeDeltas.length);
  for (let i = 0; i < count; i++) {
    const node = byId.get(doc.samples[i] as number);
    // The delta before sample i is the time spent in it (V8's convention, as DevTools reads it).
    const us = Math.max(0, doc.timeDeltas[i] as number);
    if (!node) continue;
    all += us;
    const f = node.callFrame;
    const name = f.functionName || '(anonymous)';
    const where = f.url ? `${shortUrl(f.url, root)}:${f.lineNumber + 1}` : '';
    const key = `${name}@${where}`;
    const t = totals.get(key) ?? { name, where, us: 0 };
    t.us += us;
    totals.set(key, t);
  }
  return [...totals.values()]
    .sort((a, b) => b.us - a.us)
    .map((t) => ({ name: t.name, where: t.where, ms: t.us / 1000, percent: all > 0 ? (100 * t.us) / all : 0 }));
}

export function renderSelfTimes(title: string, rows: readonly SelfTime[], top: number): string {
  const lines = [`${title}`, '', '| self % | self ms | function | where |', '|---:|---:|---|---|'];
  for (const r of rows.slice(0, top)) lines.push(`| ${r.percent.toFixed(1)} | ${r.ms.toFixed(0)} | ${r.name} | ${r.where} |`);
  return lines.join('\n');
}
