/**
 * `halo run`: load the config, start every service, then the election (if the config has
 * a cluster section); stop gracefully on SIGTERM/SIGINT: the VIP moves first (priority 0),
 * then open connections drain. Startup failures (a port in use, no address on the cluster
 * interface) stop what already started and exit 1 with the cause. SIGHUP reloads the
 * config file; the control socket in node.run_dir serves `halo reload` and `halo failover`.
 */
import { loadConfigFile } from '../config/load.js';
import { secretEnvNames } from '../config/secret-env.js';
import { createLogger, type LogFormat, type LogLevel } from '../adapters/logger.js';
import { HaloError } from '../core/errors.js';
import { systemClock } from '../adapters/system-clock.js';
import { interfaceIPv4 } from '../adapters/interface-address.js';
import { DataPlane } from './data-plane.js';
import { ElectionHost } from './election/election-host.js';
import { ReplicationNode } from './replication/replication-node.js';
import { loadSecret } from './secrets.js';
import { ClusterLog, EventLog, startAdmin, type AdminHandle } from './admin/index.js';
import { NodeControl } from './control/node-control.js';
import { ControlServer } from './control/control-socket.js';

export interface RunOptions {
  configFile: string;
  logLevel?: LogLevel;
  logFormat?: LogFormat;
}

export async function runNode(opts: RunOptions): Promise<number> {
  const config = loadConfigFile(opts.configFile);
  const level = opts.logLevel ?? config.log.level;
  const format = opts.logFormat ?? config.log.format;
  // every line this node logs (main thread and election worker) also feeds the admin API's /events
  const events = new EventLog();
  const log = createLogger({ level, format, node: config.node.name, tap: events.tap });
  // the whole cluster's lines (halo logs): ours, and the peers' over the replication links
  const clusterLog = new ClusterLog({ node: config.node.name, own: events, boot: Date.now() });
  // Before anything can take long: SIGHUP's default action would end the process.
  let control: NodeControl | undefined;
  const onHangup = (): void => {
    if (control === undefined) log.warn('reload_ignored', { signal: 'SIGHUP', cause: 'still starting: send it again once node_started is logged' });
    else void control.reload();
  };
  process.on('SIGHUP', onHangup);
  const plane = new DataPlane(config, log);
  let fatal: (cause: string) => void = () => undefined;
  const fatalStop = new Promise<string>((resolve) => (fatal = resolve));
  const cluster = config.cluster;
  const replicating = cluster !== undefined && cluster.replication.enabled;
  let replication: ReplicationNode | undefined;
  const election =
    cluster === undefined
      ? undefined
      : new ElectionHost({
          cluster,
          nodeName: config.node.name,
          logLevel: level,
          logFormat: format,
          log,
          startSynced: !replicating,
          secretEnv: secretEnvNames(config),
          onStatus: (status) => replication?.onElection(status),
          verifyBackends: (timeoutMs) => plane.verifyBackends(timeoutMs),
          onFatal: (err) => {
            log.error('election_failed', { code: err.code, cause: err.message });
            fatal(err.message);
          },
        });
  if (election) {
    events.follow(election);
    plane.onServiceHealth = (name, healthy) => election.serviceHealth(name, healthy);
  }
  let admin: AdminHandle | undefined;
  try {
    await plane.start();
    if (cluster !== undefined && replicating) {
      // the tables exist once the services have started; the election follows, so the
      // first status it posts finds replication ready to take its role
      const vipHosts = cluster.vips.map((v) => v.address.split('/')[0] ?? v.address);
      const address = cluster.address ?? interfaceIPv4(cluster.interface, vipHosts);
      if (address === undefined) throw new HaloError('HALO_ERR_ELECTION_SOCKET', `cluster.interface: ${cluster.interface} has no IPv4 address (other than the VIPs); give it one or set cluster.address`);
      replication = new ReplicationNode({
        cluster,
        services: config.services,
        nodeName: config.node.name,
        address,
        key: loadSecret({ file: cluster.key_file, env: cluster.key_env }, 'cluster', 'cluster key', 16, { file: 'key_file', env: 'key_env' }),
        plane,
        logger: log.child({ component: 'replication' }),
        now: () => systemClock.now(),
        onSynced: (synced, cause) => election?.synced(synced, cause),
        onMasterLost: (node, cause) => election?.masterLost(node, cause),
        // debug lines leave the node only while it logs at debug (a reload may change that)
        logs: { store: clusterLog, forwardDebug: () => (opts.logLevel ?? control?.config.log.level ?? level) === 'debug' },
      });
      await replication.start();
    }
    await election?.start();
  } catch (err) {
    const code = err instanceof HaloError ? err.code : 'HALO_ERR_LISTEN';
    log.error('start_failed', { code, cause: (err as Error).message });
    await election?.stop('start failed');
    await replication?.stop();
    await plane.stop(0);
    process.off('SIGHUP', onHangup);
    return 1;
  }
  const nodeControl = new NodeControl({ configFile: opts.configFile, config, plane, election, replication: () => replication, log, logLevelFixed: opts.logLevel !== undefined });
  control = nodeControl;
  const controlServer = new ControlServer({ runDir: config.node.run_dir, node: config.node.name, handlers: nodeControl, log });
  await controlServer.start();
  try {
    admin = await startAdmin({ config, plane, election, replication, events, cluster: clusterLog, log, reload: () => nodeControl.reload(), failover: (o) => nodeControl.failover(o) });
  } catch (err) {
    // the node serves without its admin API rather than not at all; the cause says how to fix it
    log.error('admin_unavailable', { code: err instanceof HaloError ? err.code : 'HALO_ERR_LISTEN', cause: (err as Error).message });
  }
  // `kill -USR2 <pid>`: one `status` line with the election and replication state (until the admin API)
  const dumpStatus = (): void => log.info('status', { election: election?.status, replication: replication?.status(), replica: plane.replicaStatus() });
  process.on('SIGUSR2', dumpStatus);
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
  // The services in force: a reload may have changed them since the start.
  const drainMs = Math.max(...control.config.services.map((s) => s.timeouts.drain_ms));
  log.info('node_stopping', { cause: reason, drain_ms: drainMs });
  process.off('SIGHUP', onHangup);
  control.close();
  await controlServer.stop();
  await admin?.close();
  await election?.stop(reason);
  await replication?.stop();
  process.off('SIGUSR2', dumpStatus);
  await plane.stop(drainMs);
  log.info('node_stopped', { cause: reason });
  return reason.startsWith('SIG') ? 0 : 1;
}
