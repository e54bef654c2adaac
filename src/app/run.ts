/**
 * `halo run`: load the config, start every service, stop gracefully on SIGTERM/SIGINT.
 * Startup failures (a port in use) stop what already started and exit 1 with the cause.
 */
import { loadConfigFile } from '../config/load.js';
import { createLogger, type LogFormat, type LogLevel } from '../adapters/logger.js';
import { HaloError } from '../core/errors.js';
import { DataPlane } from './data-plane.js';

export interface RunOptions {
  configFile: string;
  logLevel?: LogLevel;
  logFormat?: LogFormat;
}

export async function runNode(opts: RunOptions): Promise<number> {
  const config = loadConfigFile(opts.configFile);
  const log = createLogger({
    level: opts.logLevel ?? config.log.level,
    format: opts.logFormat ?? config.log.format,
    node: config.node.name,
  });
  const plane = new DataPlane(config, log);
  try {
    await plane.start();
  } catch (err) {
    const code = err instanceof HaloError ? err.code : 'HALO_ERR_LISTEN';
    log.error('start_failed', { code, cause: (err as Error).message });
    await plane.stop(0);
    return 1;
  }
  log.info('node_started', { config: opts.configFile, services: config.services.map((s) => `${s.name}/${s.mode}/${s.listen.address}:${plane.boundPort(s.name) ?? s.listen.port}`) });

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  const drainMs = Math.max(...config.services.map((s) => s.timeouts.drain_ms));
  log.info('node_stopping', { signal, drain_ms: drainMs });
  await plane.stop(drainMs);
  log.info('node_stopped', { signal });
  return 0;
}
