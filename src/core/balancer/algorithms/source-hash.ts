/**
 * Consistent hashing of ctx.key (the client IP by default) on a hash ring with virtual
 * nodes: each backend owns VNODES_PER_WEIGHT * weight points, a key goes to the owner
 * of the first point at or after its hash.
 *
 * The ring holds every backend with weight > 0, up or down; a pick walks clockwise past
 * points whose owner is down or avoided. So a backend going down moves only its own
 * keys (each to the next backend along the ring, spread over the survivors), and when
 * it comes back exactly those keys return. Only a weight change rebuilds the ring.
 *
 * The ring depends only on names and weights (not on config order, state or history),
 * so every node in the cluster maps a key to the same backend without talking.
 * A pick without a key falls back to rotation.
 */
import type { BackendSpec, Balancer, PickContext } from '../balancer.js';
import { type BackendState, type ChangeKind, TableBalancer } from './backend-table.js';

/** 160 points per unit of weight keeps every backend within a few % of its share. */
export const VNODES_PER_WEIGHT = 160;

/**
 * 32-bit string hash: FNV-1a over UTF-16 code units, then murmur3's finaliser, because
 * FNV alone mixes its high bits poorly for short, similar strings such as IP addresses.
 * Not cryptographic; the ring only needs spread and stability across processes.
 */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

interface ShState extends BackendState {
  /** Pick sequence number at which the ring walk last met this backend. */
  seen: number;
}

class SourceHash extends TableBalancer<ShState> {
  private points = new Uint32Array(0);
  /** owners[i] is the backend owning points[i]. */
  private owners: ShState[] = [];
  private ringBackends = 0;
  private dirty = true;
  private walk = 0;

  constructor(specs: readonly BackendSpec[]) {
    super('source_hash', specs, (b) => ({ ...b, seen: -1 }));
  }

  pick(ctx: PickContext, avoid?: ReadonlySet<string>): string | undefined {
    if (ctx.key === undefined || ctx.key === '') return this.pickRotating(avoid)?.name;
    if (this.dirty) this.rebuild();
    const n = this.points.length;
    if (n === 0) return undefined;
    const walk = ++this.walk;
    let distinct = 0;
    let i = lowerBound(this.points, hash32(ctx.key));
    for (let step = 0; step < n; step++, i++) {
      const owner = this.owners[i % n];
      if (owner === undefined) break;
      if (this.isEligible(owner, avoid)) return owner.name;
      if (owner.seen !== walk) {
        owner.seen = walk;
        distinct += 1;
        // Every backend on the ring has been met and refused: stop early instead of
        // walking thousands of points.
        if (distinct === this.ringBackends) break;
      }
    }
    return undefined;
  }

  protected override changed(_b: ShState, kind: ChangeKind): void {
    if (kind === 'weight') this.dirty = true;
  }

  private rebuild(): void {
    // Owner rank by name, not config order, so that the rare 32-bit point collision
    // resolves the same way on every node.
    const members = this.backends.filter((b) => b.weight > 0);
    const byName = [...members].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    let total = 0;
    for (const b of members) total += b.weight * VNODES_PER_WEIGHT;
    // point * 2^20 + rank stays below 2^52, exact in a double; a numeric sort of the
    // packed values orders by point then by name without allocating an object per point.
    const packed = new Float64Array(total);
    let k = 0;
    byName.forEach((b, rank) => {
      const count = b.weight * VNODES_PER_WEIGHT;
      for (let v = 0; v < count; v++) packed[k++] = hash32(`${b.name}#${v}`) * 0x100000 + rank;
    });
    packed.sort();
    const points = new Uint32Array(total);
    const owners: ShState[] = new Array<ShState>(total);
    for (let i = 0; i < total; i++) {
      const p = packed[i] ?? 0;
      const rank = p % 0x100000;
      points[i] = (p - rank) / 0x100000;
      owners[i] = byName[rank] as ShState;
    }
    this.points = points;
    this.owners = owners;
    this.ringBackends = members.length;
    this.dirty = false;
  }
}

/** Index of the first point >= h, or points.length (the walk then wraps to 0). */
function lowerBound(points: Uint32Array, h: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((points[mid] ?? 0) < h) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function createSourceHash(backends: readonly BackendSpec[]): Balancer {
  return new SourceHash(backends);
}
