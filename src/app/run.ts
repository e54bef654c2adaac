/**
 * `halo run`: load the config, start every service, then the election (if the config has
 * a cluster section); stop gracefully on SIGTERM/SIGINT: the VIP moves first (priority 0),
 * then open connections drain. Startup failures (a port in use, no address on the cluster
 * interface) stop what already started and exit 1 with the cause.
 */
import { loadConfigFile } from '../config/load.js';
import { createLogger, type LogFormat, type LogLevel } from '../adapters/logger.js';
import { HaloError } from '../core/errors.js';
import { DataPlane } from './data-plane.js';
import { ElectionHost } from './election/election-host.js';

export interface RunOptions {
  configFile: string;
  logLevel?: LogLevel;
  logFormat?: LogFormat;
}

export async function runNode(opts: RunOptions): Promise<number> {
  const config = loadConfigFile(opts.configFile);
  const level = opts.logLevel ?? config.log.level;
  const format = opts.logFormat ?? config.log.format;
  const log = createLogger({ level, format, node: config.node.name });
  const plane = new DataPlane(config, log);
  let fatal: (cause: string) => void = () => undefined;
  const fatalStop = new Promise<string>((resolve) => (fatal = resolve));
  const election =
    config.cluster === undefined
      ? undefined
      : new ElectionHost({
          cluster: config.cluster,
          nodeName: config.node.name,
          logLevel: level,
          logFormat: format,
          log,
          verifyBackends: (timeoutMs) => plane.verifyBackends(timeoutMs),
          onFatal: (err) => {
            log.error('election_failed', { code: err.code, cause: err.message });
            fatal(err.message);
          },
        });
  if (election) plane.onServiceHealth = (name, healthy) => election.serviceHealth(name, healthy);
  try {
    await plane.start();
    await election?.start();
  } catch (err) {
    const code = err instanceof HaloError ? err.code : 'HALO_ERR_LISTEN';
    log.error('start_failed', { code, cause: (err as Error).message });
    await election?.stop('start failed');
    await plane.stop(0);
    return 1;
  }
  log.info('node_started', {
    config: opts.configFile,
    services: config.services.map((s) => `${s.name}/${s.mode}/${s.listen.address}:${plane.boundPort(s.name) ?? s.listen.port}`),
    election: config.cluster === undefined ? 'off (no cluster section)' : `priority ${config.cluster.priority}, vips ${config.cluster.vips.map((v) => v.address).join(',')}`,
  });

  const reason = await Promise.race([
    new Promise<string>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    }),
    fatalStop.then((cause) => `election failed: ${cause}`),
  ]);
  const drainMs = Math.max(...config.services.map((s) => s.timeouts.drain_ms));
  log.info('node_stopping', { cause: reason, drain_ms: drainMs });
  await election?.stop(reason);
  await plane.stop(drainMs);
  log.info('node_stopped', { cause: reason });
  return reason.startsWith('SIG') ? 0 : 1;
}
