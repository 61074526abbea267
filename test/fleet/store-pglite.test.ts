/** The FleetStore contract on PGlite (PostgreSQL in WASM), each case in a fresh in-memory database. */
import { fleetStoreContract } from './store-contract.js';
import { PgliteClient } from '../../src/fleet/db-pglite.js';
import { SqlFleetStore } from '../../src/fleet/store.js';

fleetStoreContract('PGlite', async () => {
  const s = new SqlFleetStore(await PgliteClient.open());
  await s.migrate();
  return s;
});
