/**
 * Rise/fall as one counter, the way HAProxy does it (check->health), so a backend
 * whose checks alternate between passing and failing keeps its state instead of
 * flapping.
 *
 * The counter runs from 0 to max = rise + fall - 1. A backend is up while the
 * counter is >= rise. Every success adds one (capped at max), every failure takes one
 * away (floored at 0). On a change of state the counter jumps to the far end of the
 * new range (max when it comes up, 0 when it goes down), so:
 *  - an up backend goes down after `fall` failures net of successes;
 *  - a down backend comes up after `rise` successes net of failures.
 * Without the jump, a backend that just went down would come back after one success.
 */

export interface HysteresisOptions {
  /** Successes a down backend needs to come up (>= 1). */
  rise: number;
  /** Failures an up backend needs to go down (>= 1). */
  fall: number;
  /** Start up with the counter at max (the default, so traffic flows at start), or down at 0. */
  startUp?: boolean;
}

export class Hysteresis {
  readonly rise: number;
  readonly fall: number;
  readonly max: number;
  #counter: number;
  #up: boolean;

  constructor(opts: HysteresisOptions) {
    if (!Number.isInteger(opts.rise) || opts.rise < 1) throw new RangeError(`rise must be an integer >= 1, got ${opts.rise}`);
    if (!Number.isInteger(opts.fall) || opts.fall < 1) throw new RangeError(`fall must be an integer >= 1, got ${opts.fall}`);
    this.rise = opts.rise;
    this.fall = opts.fall;
    this.max = opts.rise + opts.fall - 1;
    this.#up = opts.startUp ?? true;
    this.#counter = this.#up ? this.max : 0;
  }

  get up(): boolean {
    return this.#up;
  }

  get counter(): number {
    return this.#counter;
  }

  /** Feed one check result; returns true when this result changed the state. */
  record(ok: boolean): boolean {
    if (ok) {
      if (this.#counter >= this.max) return false;
      this.#counter += 1;
      if (!this.#up && this.#counter >= this.rise) {
        this.#up = true;
        this.#counter = this.max;
        return true;
      }
      return false;
    }
    if (this.#counter <= 0) return false;
    this.#counter -= 1;
    if (this.#up && this.#counter < this.rise) {
      this.#up = false;
      this.#counter = 0;
      return true;
    }
    return false;
  }

  /**
   * Progress in HAProxy's "status x/y" notation, familiar to operators:
   * while down, successes so far / rise; while up, failures still tolerated / fall.
   * So a fresh down reads 0/rise and a fresh up reads fall/fall.
   */
  progress(): string {
    return this.#up ? `${this.#counter - this.rise + 1}/${this.fall}` : `${this.#counter}/${this.rise}`;
  }
}
