import { describe, expect, it } from 'vitest';
import { masterElection, statusInputs } from '../../../test/fakes/admin-status.js';
import { parseProm } from '../../../test/helpers/prometheus.js';
import { AdminMetrics } from './metrics.js';
import type { StatusInputs } from './status-report.js';

async function scrape(inputs: StatusInputs) {
  const m = new AdminMetrics(() => inputs);
  return parseProm(await m.text());
}

describe('AdminMetrics', () => {
  it('every halo_ metric has help text and a type; the text parses', async () => {
    const { types, helps } = await scrape(statusInputs());
    const names = [...types.keys()];
    expect(names.length).toBeGreaterThan(30);
    for (const n of names) {
      expect(n).toMatch(/^halo_/);
      expect(helps.get(n), n).toBeTruthy();
      if (types.get(n) === 'counter') expect(n).toMatch(/_total$/);
    }
  });

  it('election: one state gauge set, priorities, transitions, advert drops by reason', async () => {
    const { samples } = await scrape(statusInputs());
    expect(samples.get('halo_election_state{state="MASTER"}')).toBe(1);
    expect(samples.get('halo_election_state{state="BACKUP"}')).toBe(0);
    expect(samples.get('halo_election_priority{kind="configured"}')).toBe(150);
    expect(samples.get('halo_election_priority{kind="effective"}')).toBe(90);
    expect(samples.get('halo_election_transitions_total{state="MASTER"}')).toBe(1);
    expect(samples.get('halo_election_advert_drops_total{reason="hmac"}')).toBe(5);
    expect(samples.get('halo_election_advert_drops_total{reason="cluster"}')).toBe(2);
    expect(samples.get('halo_election_adverts_sent_total')).toBe(1234);
    expect(samples.get('halo_vip_held{vip="10.0.0.100/24"}')).toBe(1);
    expect(samples.get('halo_info{node="lb1",version="0.1.0"}')).toBe(1);
  });

  it('replication: lag in seconds, unacked and synced per peer', async () => {
    const { samples } = await scrape(statusInputs());
    expect(samples.get('halo_replication_peer_lag_seconds{peer="lb2"}')).toBe(0.003);
    expect(samples.get('halo_replication_peer_unacked_updates{peer="lb2"}')).toBe(2);
    expect(samples.get('halo_replication_peer_synced{peer="lb2"}')).toBe(1);
    expect(samples.get('halo_replication_synced')).toBe(1);
    expect(samples.get('halo_replication_role{role="master"}')).toBe(1);
    expect(samples.get('halo_replication_table_entries{table="web/persistence"}')).toBe(42);
  });

  it("the data plane's per-service and per-backend figures", async () => {
    const { samples } = await scrape(statusInputs());
    expect(samples.get('halo_service_connections_total{service="web"}')).toBe(3);
    expect(samples.get('halo_service_connections_active{service="web"}')).toBe(2);
    expect(samples.get('halo_service_requests_total{service="web"}')).toBe(2);
    expect(samples.get('halo_service_responses_total{service="web",class="5xx"}')).toBe(1);
    expect(samples.get('halo_service_bytes_total{service="web",direction="to_client"}')).toBe(4000);
    expect(samples.get('halo_service_backends_up{service="web"}')).toBe(2);
    expect(samples.get('halo_service_backends{service="web"}')).toBe(3);
    expect(samples.get('halo_backend_up{service="web",pool="default",backend="web3"}')).toBe(0);
    expect(samples.get('halo_backend_connections_active{service="web",pool="default",backend="web1"}')).toBe(2);
    expect(samples.get('halo_backend_balancer_load{service="web",pool="default",backend="web1"}')).toBe(2);
    expect(samples.get('halo_backend_bytes_total{service="web",pool="default",backend="web1",direction="to_backend"}')).toBe(300);
  });

  it('follows the inputs from one scrape to the next (collected on scrape, nothing cached)', async () => {
    let inputs = statusInputs();
    const m = new AdminMetrics(() => inputs);
    expect(parseProm(await m.text()).samples.get('halo_election_state{state="MASTER"}')).toBe(1);
    inputs = statusInputs({ election: masterElection({ state: 'BACKUP' }) });
    const after = parseProm(await m.text()).samples;
    expect(after.get('halo_election_state{state="MASTER"}')).toBe(0);
    expect(after.get('halo_election_state{state="BACKUP"}')).toBe(1);
    expect(after.get('halo_vip_held{vip="10.0.0.100/24"}')).toBe(0);
  });

  it('a single node exports no election or replication samples, only the data plane', async () => {
    const { samples } = await scrape(statusInputs({ cluster: undefined, election: undefined, replication: undefined }));
    expect([...samples.keys()].filter((k) => k.startsWith('halo_election_') || k.startsWith('halo_replication_') || k.startsWith('halo_vip_'))).toEqual([]);
    expect(samples.get('halo_service_backends{service="web"}')).toBe(3);
  });

  it('escapes label values', async () => {
    const { samples } = await scrape(statusInputs({ node: 'a"b' }));
    expect(samples.get('halo_info{node="a\\"b",version="0.1.0"}')).toBe(1);
  });
});
