/** Every fuzz target, in the order the runner and the CI test drive them. */
import type { FuzzTarget } from '../harness.js';
import { advertTarget } from './advert.js';
import { configTarget } from './config.js';
import { proxyTarget } from './proxy-protocol.js';
import { replicationTarget } from './replication.js';

export const FUZZ_TARGETS: readonly FuzzTarget[] = [advertTarget, replicationTarget, proxyTarget, configTarget];
