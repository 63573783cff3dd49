import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createWalletClient, http, type Address } from 'viem';
import { generatePrivateKey, mnemonicToAccount, privateKeyToAccount } from 'viem/accounts';
import { ANVIL_DEV_MNEMONIC } from '../src/chain/anvil.ts';
import { evmChain } from '../src/chain/evm.ts';
import { createChainService, type ChainService } from '../src/chain/service.ts';
import type { WithdrawalFaults } from '../src/chain/withdrawals.ts';
import { createManualClock } from '../src/platform/clock.ts';
import { createSecretBox, randomHex } from '../src/platform/crypto.ts';
import { migrate, openPglite, type Db } from '../src/platform/db/client.ts';
import { createIdGenerator } from '../src/platform/ids.ts';
import { createLedger, platformAccount, type Ledger } from '../src/platform/ledger/service.ts';

/** The chain domain on a fresh database and fresh embedded anvil chains (one per EVM network), mining on demand. */
export interface ChainFixture {
  db: Db;
  ledger: Ledger;
  chain: ChainService;
  clock: ReturnType<typeof createManualClock>;
  secretsKey: string;
  rpc(network: string, method: string, params?: unknown[]): Promise<any>;
  mine(network: string, blocks: number): Promise<void>;
  fundUser(userId: string, asset: string, amount: string): Promise<void>;
  /** A wallet client of anvil's second dev account (a stranger sending deposits). */
  stranger(network: string): Promise<ReturnType<typeof createWalletClient>>;
  close(): Promise<void>;
}

/** `dropDb` replaces closing the database on close (e.g. a PostgreSQL test schema that must be dropped too). */
export async function startChainFixture(
  opts: {
    db?: Db;
    dropDb?: () => Promise<void>;
    secretsKey?: string;
    chainRpcUrl?: string;
    faults?: WithdrawalFaults;
    /** Sweep credited deposits into the hot wallet (off by default in the sandbox). */
    sweep?: boolean;
  } = {},
): Promise<ChainFixture> {
  // Own database bootstrap (not test/helpers.ts) so these tests do not load the whole app.
  const db = opts.db ?? (await openPglite());
  if (!opts.db) await migrate(db);
  const opened = { db, drop: opts.dropDb ?? (() => db.close()) };
  const clock = createManualClock(Date.now());
  const ledger = createLedger({ db, clock });
  const secretsKey = opts.secretsKey ?? randomHex(32);
  const dataDir = mkdtempSync(join(tmpdir(), 'rampart-chain-'));
  const chain = createChainService({
    db,
    ledger,
    clock,
    ids: createIdGenerator(),
    box: createSecretBox(secretsKey),
    faults: opts.faults,
    config: {
      mode: 'sandbox',
      dataDir,
      chainRpcUrl: opts.chainRpcUrl,
      anvil: { persist: false },
      pollingIntervalMs: 20,
      sweep: opts.sweep,
    },
  });
  try {
    await chain.start();
  } catch (e) {
    await chain.stop();
    await opened.drop();
    throw e;
  }
  const rpc = async (network: string, method: string, params: unknown[] = []) =>
    (await chain.evm(network)).client.request({ method: method as any, params: params as any });
  return {
    db,
    ledger,
    chain,
    clock,
    secretsKey,
    rpc,
    async mine(network, blocks) {
      await rpc(network, 'anvil_mine', [`0x${blocks.toString(16)}`]);
    },
    async fundUser(userId, asset, amount) {
      await db.tx((q) =>
        ledger.transfer(q, {
          id: `fund:${userId}:${asset}:${amount}:${randomHex(4)}`,
          debit: platformAccount('sandbox_mint', asset),
          credit: { ownerType: 'user', ownerId: userId, asset },
          amount,
          kind: 'test_funding',
        }),
      );
    },
    async stranger(network) {
      const a = await chain.evm(network);
      return createWalletClient({
        account: mnemonicToAccount(ANVIL_DEV_MNEMONIC, { addressIndex: 1 }),
        chain: evmChain(a.chainId, network, a.nativeAsset, a.rpcUrl),
        transport: http(a.rpcUrl),
      });
    },
    async close() {
      await chain.stop();
      await opened.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export const randomAddress = (): Address => privateKeyToAccount(generatePrivateKey()).address;
