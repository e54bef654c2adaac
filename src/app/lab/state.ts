/**
 * state.json: everything a later `halo lab ...` (another process) needs to act on a lab
 * that an earlier `halo lab up` built. Written whole and renamed into place, so a reader
 * never sees half a file.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HaloError } from '../../core/errors.js';
import type { HostRole } from './plan.js';

export const STATE_VERSION = 1;

export interface HostState {
  name: string;
  role: HostRole;
  namespace: string;
  address: string;
  /** lb only */
  config?: string;
  /** lb and backends: where stdout and stderr go */
  log?: string;
  /** the process last started for this host; undefined when stopped by the lab */
  pid?: number;
}

export interface LabState {
  version: number;
  name: string;
  nodes: number;
  stateDir: string;
  switchNamespace: string;
  vip: string;
  clusterId: number;
  keyFile: string;
  election: boolean;
  haloCommand: string[];
  createdAt: string;
  hosts: HostState[];
}

export function defaultStateDir(name: string): string {
  return join('/run/halo-lab', name);
}

export function statePath(stateDir: string): string {
  return join(stateDir, 'state.json');
}

export function writeState(state: LabState): void {
  mkdirSync(state.stateDir, { recursive: true, mode: 0o700 });
  const file = statePath(state.stateDir);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, file);
}

/** The state of the lab in stateDir, or undefined when there is none. */
export function readState(stateDir: string): LabState | undefined {
  let text: string;
  try {
    text = readFileSync(statePath(stateDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new HaloError('HALO_ERR_LAB', `cannot read ${statePath(stateDir)}: ${(err as Error).message}`);
  }
  let state: LabState;
  try {
    state = JSON.parse(text) as LabState;
  } catch (err) {
    throw new HaloError('HALO_ERR_LAB', `${statePath(stateDir)} is not valid JSON (${(err as Error).message}); \`halo lab down\` still cleans up by the lab name`);
  }
  if (state.version !== STATE_VERSION || !Array.isArray(state.hosts)) {
    throw new HaloError('HALO_ERR_LAB', `${statePath(stateDir)} has version ${String(state.version)}, this halo writes ${STATE_VERSION}: run \`halo lab down\` and \`up\` again`);
  }
  return state;
}
