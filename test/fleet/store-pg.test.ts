/**
 * The FleetStore contract on a real PostgreSQL 15 started by this file (helpers/postgres.ts),
 * each case in a fresh database; plus several pools writing one device at once.
 */
import { afterAll, beforeAll } from 'vitest';
import { fleetStoreContract } from './store-contract.js';
import { PgClient } from '../../src/fleet/db-pg.js';
import { SqlFleetStore } from '../../src/fleet/store.js';
import { pgTool, startPostgres, type PgCluster } from './helpers/postgres.js';

let pg: PgCluster;
let n = 0;
beforeAll(async () => {
  pg = await startPostgres();
}, 120_000);
afterAll(() => pg?.close());

const freshDb = () => {
  const name = `contract_${++n}`;
  pgTool(pg, 'psql', ['-q', '-c', `CREATE DATABASE ${name} OWNER fleet`]);
  return pg.url.replace(/\/fleet$/, `/${name}`);
};

fleetStoreContract(
  'PostgreSQL 15',
  async () => {
    const s = new SqlFleetStore(await PgClient.open(freshDb()));
    await s.migrate();
    return s;
  },
  {
    concurrentClients: async () => {
      const url = freshDb();
      // Three workers starting together: the advisory lock lets one migrate, the others wait.
      return Promise.all(
        [0, 1, 2].map(async () => {
          const s = new SqlFleetStore(await PgClient.open(url));
          await s.migrate();
          return s;
        }),
      );
    },
  },
);
