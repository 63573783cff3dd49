/**
 * Child process of test/chain-crash.test.ts: requests a withdrawal and is SIGKILLed right after the
 * transaction is broadcast, before the broadcast is recorded. Not a test file on its own.
 */
import { migrate, openPglite } from '../src/platform/db/client.ts';
import { startChainFixture } from './chain-fixture.ts';

const db = await openPglite(process.env.CRASH_PGLITE_DIR!);
await migrate(db);
const f = await startChainFixture({
  db,
  secretsKey: process.env.CRASH_SECRETS_KEY!,
  chainRpcUrl: process.env.CRASH_CHAIN_RPC_URL!,
  faults: { afterBroadcast: () => process.kill(process.pid, 'SIGKILL') },
});
await f.fundUser('u-crash', 'ETH', '1');
const r = await f.chain.withdrawals.request({
  ref: 'crash-1',
  ownerType: 'user',
  ownerId: 'u-crash',
  asset: 'ETH',
  network: 'ETH',
  address: process.env.CRASH_TO!,
  amount: '0.3',
});
if (!r.ok) throw new Error(`request failed: ${r.code}`);
await f.chain.withdrawals.process(r.value.id);
console.error('the injected crash did not happen');
process.exit(3);
