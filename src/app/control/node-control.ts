/**
 * The operator's requests to a running `halo run`: reload the config file it was
 * started with (SIGHUP, `halo reload`, the admin API's POST /reload) and hand the VIP
 * over for maintenance (`halo failover`). One request at a time, in arrival order.
 *
 * Reload (design.md sections 6 and 8): read and validate the file, diff it with the
 * config in force (config-diff.ts), and refuse the whole reload, changing nothing, when
 * anything fails or needs a restart: one `reload_refused` line names every problem. Else
 * the data plane first (its new sockets are the last thing that can fail), then
 * replication (new tables, new digest), then the election's live settings, never a state
 * change by themselves; one `reload` line says what changed.
 */
import { realpathSync } from 'node:fs';
import { ConfigError, HaloError } from '../../core/errors.js';
import { loadConfigFile } from '../../config/load.js';
import { diffConfigs, type ConfigDiff } from '../../config/config-diff.js';
import type { HaloConfig } from '../../config/schema.js';
import type { Logger } from '../../adapters/logger.js';
import type { DataPlane } from '../data-plane.js';
import type { ElectionHost } from '../election/election-host.js';
import type { ReplicationNode } from '../replication/replication-node.js';
import { DEFAULT_HOLD_MS, MAX_HOLD_MS, type ControlResult, type FailoverOptions, type NodeControlHandlers } from './control-types.js';

export interface NodeControlOptions {
  /** The file `halo run --config` named: a reload always reads this one. */
  configFile: string;
  config: Readonly<HaloConfig>;
  plane: DataPlane;
  election: ElectionHost | undefined;
  replication: () => ReplicationNode | undefined;
  log: Logger;
  /** --log-level was given: the config's log.level does not apply, now or on reload. */
  logLevelFixed: boolean;
}

export class NodeControl implements NodeControlHandlers {
  readonly #opts: NodeControlOptions;
  #config: Readonly<HaloConfig>;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(opts: NodeControlOptions) {
    this.#opts = opts;
    this.#config = opts.config;
  }

  /** The config in force: the last one applied. */
  get config(): Readonly<HaloConfig> {
    return this.#config;
  }

  /** `file`: the config the caller meant (halo reload --config); it must be the one this node runs. */
  reload(file?: string): Promise<ControlResult> {
    return this.#serial(() => this.#reload(file));
  }

  failover(opts: FailoverOptions): Promise<ControlResult> {
    return this.#serial(() => this.#failover(opts));
  }

  /** The node is stopping: later requests are refused (one under way finishes or fails with the election). */
  close(): void {
    this.#closed = true;
  }

  #serial(task: () => Promise<ControlResult>): Promise<ControlResult> {
    if (this.#closed) return Promise.resolve({ ok: false, message: 'the node is stopping' });
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => undefined);
    return run.catch((err: unknown) => ({ ok: false, message: `internal error: ${(err as Error).message}` }));
  }

  async #reload(file: string | undefined): Promise<ControlResult> {
    const { log, configFile } = this.#opts;
    if (file !== undefined && canonical(file) !== canonical(configFile)) {
      return this.#refused([`this node runs ${configFile}, not ${file}: a reload reads the file the node was started with`]);
    }
    let next: Readonly<HaloConfig>;
    try {
      next = loadConfigFile(configFile);
    } catch (err) {
      if (err instanceof ConfigError) return this.#refused([...err.problems], err.code);
      throw err;
    }
    const diff = diffConfigs(this.#config, next);
    if (diff.restartNeeded.length > 0) return this.#refused(diff.restartNeeded);
    if (diff.unchanged) {
      log.info('reload', { config: configFile, changed: 'nothing', cause: 'the file matches the config in force' });
      return { ok: true, message: `${configFile}: no change` };
    }
    const servicesChanged = diff.servicesAdded.length + diff.servicesRemoved.length + diff.servicesChanged.length > 0;
    let plane = { tablesReset: [] as string[], failures: [] as string[] };
    let replication: { digestChanged: boolean } | undefined;
    if (servicesChanged) {
      try {
        plane = await this.#opts.plane.reconfigure(next, diff, () => {
          replication = this.#opts.replication()?.reconfigure(next.services);
        });
      } catch (err) {
        if (err instanceof HaloError) return this.#refused([err.message], err.code);
        throw err;
      }
    }
    const logLevel = diff.logLevel && !this.#opts.logLevelFixed ? next.log.level : undefined;
    if (logLevel !== undefined) log.setLevel(logLevel);
    let election: ControlResult | undefined;
    const cluster = next.cluster;
    if (this.#opts.election !== undefined && cluster !== undefined && (diff.electionLive.length > 0 || logLevel !== undefined)) {
      election = await this.#opts.election.control({ op: 'reconfigure', cluster, ...(logLevel !== undefined ? { logLevel } : {}) });
    }
    this.#config = next;
    const failures = [...plane.failures, ...(election !== undefined && !election.ok ? [election.message] : [])];
    const status = this.#opts.election?.status;
    const fields = {
      config: configFile,
      services_added: diff.servicesAdded,
      services_removed: diff.servicesRemoved,
      services_changed: diff.servicesChanged.map((s) => `${s.name}: ${s.fields.join(', ')}`),
      tables_reset: plane.tablesReset,
      election_changed: diff.electionLive,
      log_level: logLevel,
      replication: replication === undefined ? 'unchanged' : replication.digestChanged ? 'config digest changed: peers handshake again' : 'tables updated, digest unchanged',
      state: status?.state,
      priority: status?.priority,
      failures: failures.length > 0 ? failures : undefined,
    };
    if (failures.length > 0) log.error('reload', { ...fields, cause: 'applied, but not all of it took effect' });
    else log.info('reload', fields);
    const lines = summary(diff, plane.tablesReset, election, replication, logLevel);
    return failures.length > 0 ? { ok: false, message: [...lines, ...failures.map((f) => `failed: ${f}`)].join('\n') } : { ok: true, message: lines.join('\n') };
  }

  #refused(problems: string[], code: string = 'HALO_ERR_CONFIG_INVALID'): ControlResult {
    this.#opts.log.error('reload_refused', { config: this.#opts.configFile, code, problems, cause: 'the config in force keeps running' });
    return { ok: false, message: `reload refused, the config in force keeps running:\n  ${problems.join('\n  ')}` };
  }

  async #failover(opts: FailoverOptions): Promise<ControlResult> {
    const election = this.#opts.election;
    if (election === undefined) return { ok: false, message: 'this node has no cluster section: no election, nothing to hand over' };
    if (opts.release === true) {
      const r = await election.control({ op: 'release' });
      this.#opts.log.info('failover_release', { ok: r.ok, cause: r.message });
      return r;
    }
    const holdMs = opts.holdMs ?? DEFAULT_HOLD_MS;
    if (!Number.isInteger(holdMs) || holdMs < 0 || holdMs > MAX_HOLD_MS) return { ok: false, message: `hold: expected 0 to ${MAX_HOLD_MS} ms, got ${holdMs}` };
    const r = await election.control({ op: 'failover', holdMs });
    if (r.ok) this.#opts.log.info('failover', { hold_ms: holdMs, cause: r.message });
    else this.#opts.log.warn('failover_refused', { hold_ms: holdMs, cause: r.message });
    return r;
  }
}

function canonical(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return file;
  }
}

function summary(diff: ConfigDiff, tablesReset: string[], election: ControlResult | undefined, replication: { digestChanged: boolean } | undefined, logLevel: string | undefined): string[] {
  const lines: string[] = [];
  if (diff.servicesAdded.length > 0) lines.push(`services added: ${diff.servicesAdded.join(', ')}`);
  if (diff.servicesRemoved.length > 0) lines.push(`services removed: ${diff.servicesRemoved.join(', ')}`);
  for (const s of diff.servicesChanged) lines.push(`service ${s.name}: ${s.fields.join(', ')}${s.rebind ? ' (new listener)' : ''}`);
  if (tablesReset.length > 0) lines.push(`tables started empty: ${tablesReset.join('; ')}`);
  if (replication?.digestChanged === true) lines.push('replication: config digest changed, peers handshake again (a peer still on the old config is refused until reloaded too)');
  if (election !== undefined && election.ok) lines.push(election.message);
  if (logLevel !== undefined) lines.push(`log.level ${logLevel}`);
  else if (diff.logLevel) lines.push('log.level changed in the file; --log-level on the command line wins');
  return lines.length > 0 ? lines : ['applied'];
}
