import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createWalletClient, erc20Abi, http, parseEther, parseUnits, type Address, type Hex } from 'viem';
import { HDKey, mnemonicToAccount, privateKeyToAccount, generatePrivateKey, type LocalAccount } from 'viem/accounts';
import type { Clock } from '../platform/clock.ts';
import type { SecretBox } from '../platform/crypto.ts';
import { onlyRow, type Db } from '../platform/db/client.ts';
import type { IdGenerator } from '../platform/ids.ts';
import type { Ledger } from '../platform/ledger/service.ts';
import type { Logger } from '../platform/logger.ts';
import type { Outbox } from '../platform/outbox/service.ts';
import { ANVIL_DEV_MNEMONIC, startAnvil, type AnvilHandle } from './anvil.ts';
import TestToken from './contracts/TestToken.json' with { type: 'json' };
import { createDeposits } from './deposits.ts';
import { createEvmAdapter, createPublicEvmClient, evmChain, type EvmAdapter, type EvmToken } from './evm.ts';
import { createHotWallets, nativeHotAsset, type HotAsset, type HotWalletCheck } from './hotwallet.ts';
import {
  ASSET_NETWORKS,
  type AssetNetwork,
  EVM_NETWORKS,
  findAssetNetwork,
  networkInfo,
  NETWORKS,
  SANDBOX_TOKENS,
} from './networks.ts';
import type { ChainAdapter } from './port.ts';
import { createSimulatedAdapter } from './simulated.ts';
import { createSweeps } from './sweeps.ts';
import { createTopUps } from './topups.ts';
import { err } from '../platform/errors.ts';
import { createWithdrawals, type WithdrawalFaults } from './withdrawals.ts';
import { describeError } from '../platform/errors.ts';

/**
 * The chain domain's composition: keys, adapters (embedded anvil or CHAIN_RPC_URL for EVM, simulated for the
 * rest in sandbox), withdrawals and deposits. Nothing is started until first needed, so an app that never
 * touches a chain never spawns one.
 */
interface ChainConfig {
  mode: 'sandbox' | 'production';
  dataDir: string;
  /** `URL` for every EVM network, or `ETH=URL,BSC=URL` per network. */
  chainRpcUrl?: string;
  /** CHAIN_TOKENS: `ETH:USDT=0x…,…`, token contracts that replace the registry's (a testnet, a private chain). */
  chainTokens?: string;
  /**
   * Embedded anvil: persist state in DATA_DIR (default true) and interval mining (default: a block per transaction).
   */
  anvil?: { persist?: boolean; blockTimeSec?: number };
  /**
   * Move credited deposits from their deposit addresses to the hot wallet (sweeps.ts). Default: on in production, off
   * in the sandbox (where the dev accounts fund the hot wallet and tests count what deposit addresses hold).
   */
  sweep?: boolean;
  /** HTTP polling interval for receipts (ms). */
  pollingIntervalMs?: number;
}

function parseRpcUrls(value: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!value) return out;
  for (const part of value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^([A-Z0-9]+)=(.+)$/.exec(part);
    if (m) out[m[1]!] = m[2]!;
    else for (const n of EVM_NETWORKS) out[n] ??= part;
  }
  return out;
}

/**
 * CHAIN_TOKENS parsed and checked against the registry: only an asset the registry carries as a token on that network
 * can be given a contract (the limits, fees and decimals on the wire come from the registry entry).
 */
function parseTokenContracts(value: string | undefined): Map<string, Address> {
  const out = new Map<string, Address>();
  for (const part of (value ?? '').split(',').filter(Boolean)) {
    const m = /^([A-Z0-9]+):([A-Z0-9]+)=(0x[0-9a-fA-F]{40})$/.exec(part.trim());
    if (!m) throw new Error(`CHAIN_TOKENS: "${part}" is not NETWORK:ASSET=0x<40 hex>`);
    const [, network, asset, address] = m as unknown as [string, string, string, Address];
    const an = findAssetNetwork(asset, network);
    if (!an || !an.contractAddress || networkInfo(network).family !== 'evm')
      throw new Error(`CHAIN_TOKENS: ${asset} is not a token of an EVM network ${network} in the registry`);
    out.set(`${network}:${asset}`, address);
  }
  return out;
}

interface NetworkListing extends AssetNetwork {
  memoRequired: boolean;
  memoRegex: string;
  addressRegex: string;
  confirmations: number;
  /** True where the sandbox simulates the network instead of moving anything on a chain. */
  simulated: boolean;
}

const SANDBOX_FLOAT = { native: '1000', tokens: '10000000' };

export function createChainService(deps: {
  db: Db;
  ledger: Ledger;
  clock: Clock;
  ids: IdGenerator;
  box: SecretBox;
  config: ChainConfig;
  logger?: Logger;
  /** Settled withdrawals are announced here (WITHDRAWAL_SETTLED_TOPIC). */
  outbox?: Outbox;
  faults?: WithdrawalFaults;
}) {
  const { db, box, clock, config } = deps;
  const rpcUrls = parseRpcUrls(config.chainRpcUrl);
  const tokenContracts = parseTokenContracts(config.chainTokens);
  const pollingInterval = config.pollingIntervalMs ?? 100;
  const anvils: AnvilHandle[] = [];
  const adapters = new Map<string, ChainAdapter>();
  let starting: Promise<void> | null = null;
  let started = false;
  const hotWallets = createHotWallets({ db, ledger: deps.ledger });

  const hasAdapter = (network: string) => {
    const n = NETWORKS[network];
    if (!n) return false;
    if (n.family === 'evm') return Boolean(rpcUrls[network]) || config.mode === 'sandbox';
    return config.mode === 'sandbox';
  };

  /** A secret generated once, stored only sealed; concurrent first callers all end up with the stored one. */
  async function secret(name: string, make: () => string): Promise<string> {
    await db.query(
      `INSERT INTO chain_keys (name, sealed, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`,
      [name, box.seal(make()), clock.now()],
    );
    const row = onlyRow(await db.query<{ sealed: string }>(`SELECT sealed FROM chain_keys WHERE name = $1`, [name]));
    return box.open(row.sealed);
  }
  let hotWalletP: Promise<LocalAccount> | null = null;
  const hotWallet = () =>
    (hotWalletP ??= secret('hot_wallet', () => generatePrivateKey()).then((k) => privateKeyToAccount(k as Hex)));
  let seedP: Promise<HDKey> | null = null;
  const depositSeed = () =>
    (seedP ??= secret('deposit_seed', () => randomBytes(64).toString('hex')).then((s) =>
      HDKey.fromMasterSeed(Buffer.from(s, 'hex')),
    ));

  /** Sandbox, first start on a dev chain: deploy the test tokens and fund the hot wallet from anvil's dev account. */
  async function provision(network: string, rpcUrl: string, chainId: number, hot: Address) {
    const info = networkInfo(network);
    const client = createPublicEvmClient(rpcUrl, chainId, info.nativeAsset);
    const deployer = mnemonicToAccount(ANVIL_DEV_MNEMONIC);
    // Not a dev chain: nothing to provision.
    if ((await client.getBalance({ address: deployer.address })) === 0n) return;
    const wallet = createWalletClient({
      account: deployer,
      chain: evmChain(chainId, network, info.nativeAsset, rpcUrl),
      transport: http(rpcUrl),
      pollingInterval,
    });
    const wait = (hash: Hex) => client.waitForTransactionReceipt({ hash, pollingInterval });
    // Whatever the platform puts into the hot wallet goes on the ledger as it happens.
    const funded = async (asset: string, amount: string, hash: Hex) => {
      const receipt = await wait(hash);
      if (receipt.status !== 'success')
        throw new Error(`funding the ${network} hot wallet with ${amount} ${asset} reverted (${hash})`);
      await hotWallets.bookFunding(network, asset, hash, amount);
    };
    const known = (
      await db.query<{ asset: string; address: string }>(
        `SELECT asset, address FROM chain_contracts WHERE network = $1 AND chain_id = $2`,
        [network, chainId],
      )
    ).rows;
    for (const t of SANDBOX_TOKENS.filter((x) => x.network === network)) {
      const row = known.find((k) => k.asset === t.asset);
      if (row && (await client.getCode({ address: row.address as Address }))) continue;
      const receipt = await wait(
        await wallet.deployContract({
          abi: TestToken.abi,
          bytecode: TestToken.bytecode as Hex,
          args: [t.name, t.asset, t.decimals],
        }),
      );
      const address = receipt.contractAddress!;
      await funded(
        t.asset,
        SANDBOX_FLOAT.tokens,
        await wallet.writeContract({
          address,
          abi: TestToken.abi,
          functionName: 'mint',
          args: [hot, parseUnits(SANDBOX_FLOAT.tokens, t.decimals)],
        }),
      );
      await db.query(
        `INSERT INTO chain_contracts (network, asset, address, decimals, chain_id, created_at)
          VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (network, asset) DO UPDATE SET address = $3, decimals = $4, chain_id = $5`,
        [network, t.asset, address, t.decimals, chainId, clock.now()],
      );
    }
    if ((await client.getBalance({ address: hot })) === 0n)
      await funded(
        info.nativeAsset,
        SANDBOX_FLOAT.native,
        await wallet.sendTransaction({ to: hot, value: parseEther(SANDBOX_FLOAT.native) }),
      );
  }

  async function tokensFor(network: string, chainId: number): Promise<EvmToken[]> {
    const deployed = (
      await db.query<{ asset: string; address: string; decimals: number }>(
        `SELECT asset, address, decimals FROM chain_contracts WHERE network = $1 AND chain_id = $2`,
        [network, chainId],
      )
    ).rows.map((r) => ({ asset: r.asset, address: r.address as Address, decimals: r.decimals }));
    if (config.mode === 'sandbox') return deployed;
    const client = () => createPublicEvmClient(rpcUrls[network]!, chainId, networkInfo(network).nativeAsset);
    return Promise.all(
      ASSET_NETWORKS.filter((a) => a.network === network && a.contractAddress).map(async (a) => {
        const configured = tokenContracts.get(`${network}:${a.asset}`);
        if (!configured)
          return (
            deployed.find((d) => d.asset === a.asset) ?? {
              asset: a.asset,
              address: a.contractAddress as Address,
              decimals: a.decimals,
            }
          );
        // A configured contract is asked its decimals: a testnet copy of a token need not have the mainnet's.
        const decimals = await client().readContract({ address: configured, abi: erc20Abi, functionName: 'decimals' });
        return { asset: a.asset, address: configured, decimals: Number(decimals) };
      }),
    );
  }

  /**
   * Every asset the hot wallet holds on a network, with the sandbox tokens not deployed yet (they hold nothing so
   * far).
   */
  async function hotAssets(network: string, chainId: number): Promise<HotAsset[]> {
    const known = await tokensFor(network, chainId);
    const tokens =
      config.mode !== 'sandbox'
        ? known
        : SANDBOX_TOKENS.filter((t) => t.network === network).map(
            (t) => known.find((k) => k.asset === t.asset) ?? { asset: t.asset, decimals: t.decimals, address: null },
          );
    return [
      nativeHotAsset(network),
      ...tokens.map((t) => ({ asset: t.asset, decimals: t.decimals, native: false as const, contract: t.address })),
    ];
  }

  async function doStart() {
    const hot = await hotWallet();
    for (const network of EVM_NETWORKS) {
      const info = networkInfo(network);
      let rpcUrl = rpcUrls[network];
      if (!rpcUrl) {
        if (config.mode !== 'sandbox') continue;
        const persist = config.anvil?.persist ?? true;
        const handle = await startAnvil({
          chainId: info.devChainId!,
          blockTimeSec: config.anvil?.blockTimeSec,
          statePath: persist ? join(config.dataDir, 'chain', `${network.toLowerCase()}-state.json`) : undefined,
        });
        anvils.push(handle);
        rpcUrl = handle.rpcUrl;
      }
      const chainId = await createPublicEvmClient(rpcUrl, 1).getChainId();
      // The opening balance is observed before provisioning, whose funding is booked entry by entry.
      await hotWallets.observeOpening(
        network,
        createPublicEvmClient(rpcUrl, chainId, info.nativeAsset),
        hot.address,
        await hotAssets(network, chainId),
      );
      if (config.mode === 'sandbox') await provision(network, rpcUrl, chainId, hot.address);
      adapters.set(
        network,
        createEvmAdapter({
          network,
          nativeAsset: info.nativeAsset,
          rpcUrl,
          chainId,
          hotWallet: hot,
          tokens: await tokensFor(network, chainId),
        }),
      );
      deps.logger?.info({ network, rpcUrl, chainId, embedded: !rpcUrls[network] }, 'chain adapter ready');
    }
    if (config.mode === 'sandbox') {
      for (const n of Object.values(NETWORKS))
        if (n.family !== 'evm') adapters.set(n.code, createSimulatedAdapter({ network: n.code, clock }));
    }
    started = true;
  }

  function start(): Promise<void> {
    starting ??= doStart().catch(async (e) => {
      starting = null;
      await Promise.all(anvils.splice(0).map((a) => a.stop()));
      throw e;
    });
    return starting;
  }

  const adapter = async (network: string) => {
    if (!hasAdapter(network)) return undefined;
    await start();
    return adapters.get(network);
  };

  const withdrawals = createWithdrawals({
    db,
    ledger: deps.ledger,
    clock,
    ids: deps.ids,
    adapter,
    hasAdapter,
    outbox: deps.outbox,
    faults: deps.faults,
  });
  // Deposits to an order's address are announced through the outbox (DEPOSIT_CREDITED_TOPIC) for the Pay side.
  const deposits = createDeposits({ db, ledger: deps.ledger, clock, seed: depositSeed, outbox: deps.outbox });

  const sweeping = config.sweep ?? config.mode === 'production';
  const sweeps = createSweeps({ db, ledger: deps.ledger, clock, ids: deps.ids, seed: depositSeed, withdrawals });

  const topUps = createTopUps({ db, ledger: deps.ledger });

  return {
    withdrawals,
    sweeps,
    /** Books the operator's own coins sent to a hot wallet in `txHash` (topups.ts). */
    async recordTopUp(network: string, txHash: string) {
      if (!EVM_NETWORKS.includes(network) || !hasAdapter(network))
        return err('NETWORK_UNAVAILABLE', `no EVM chain is configured for network ${network}`, 'network');
      return topUps.record(await this.evm(network), txHash);
    },
    /** Per-customer deposit address on the EVM networks (derived from the sealed master seed). */
    depositAddress: deposits.depositAddress,
    deposits,
    start,
    isStarted: () => started,
    hasAdapter,
    async evm(network: string): Promise<EvmAdapter> {
      const a = await adapter(network);
      if (!a || a.simulated) throw new Error(`${network} has no EVM adapter`);
      return a as EvmAdapter;
    },
    async hotWalletAddress() {
      return (await hotWallet()).address;
    },

    /** Registry rows enriched for the wire (Connect get-crypto-network-list): sandbox contracts, simulated flag. */
    async networkList(): Promise<NetworkListing[]> {
      const deployed = (
        await db.query<{ network: string; asset: string; address: string; decimals: number }>(
          `SELECT network, asset, address, decimals FROM chain_contracts`,
        )
      ).rows;
      return ASSET_NETWORKS.filter((a) => hasAdapter(a.network)).map((a) => {
        const n = networkInfo(a.network);
        const d = deployed.find((x) => x.network === a.network && x.asset === a.asset);
        // A running adapter knows the contract in use (a configured one's decimals were read from it).
        const running = (adapters.get(a.network) as EvmAdapter | undefined)?.tokens?.get(a.asset);
        return {
          ...a,
          contractAddress:
            running?.address ?? d?.address ?? tokenContracts.get(`${a.network}:${a.asset}`) ?? a.contractAddress,
          decimals: running?.decimals ?? d?.decimals ?? a.decimals,
          memoRequired: n.memoRequired,
          memoRegex: n.memoRegex,
          addressRegex: n.addressRegex,
          confirmations: n.confirmations,
          simulated: config.mode === 'sandbox' && n.family !== 'evm',
        };
      });
    },

    /**
     * Worker tick: withdrawals, then a deposit scan per EVM network. Idle (no chain spawned) until there is chain
     * work.
     */
    async runOnce(): Promise<number> {
      if (!started && !(await withdrawals.hasActive()) && !(await deposits.hasAddresses())) return 0;
      await start();
      let n = await withdrawals.runOnce();
      for (const a of adapters.values()) {
        if (a.simulated) continue;
        n += await deposits.scan(a as EvmAdapter);
        if (sweeping) n += await sweeps.runOnce(a as EvmAdapter);
      }
      return n;
    },

    /**
     * Each running EVM network's hot wallet, native coin and ERC-20s, read on chain and compared with the ledger
     * (platform:hot_wallet.<NET>:<asset>, net of withdrawals already in a block but not yet completed). Starts the
     * chain
     * only when the ledger says a hot wallet holds something: a chain never used reports no wallets. Simulated networks
     * have no chain to read and are left out.
     */
    async reconcileHotWallets(): Promise<{ hotWallets: HotWalletCheck[]; problems: string[] }> {
      if (!started && starting) await starting.catch(() => {});
      const out = { hotWallets: [] as HotWalletCheck[], problems: [] as string[] };
      if (!started) {
        // A process that has not used the chain yet (an API process beside a worker, one just restarted) still has to
        // check the wallets the ledger says hold money: start the adapters for that, and only then say nothing is
        // there.
        const held = (
          await Promise.all(EVM_NETWORKS.map((n) => deps.ledger.balances(db, 'platform', `hot_wallet.${n}`)))
        )
          .flat()
          .some((b) => b.posted !== '0');
        if (!held) return out;
        try {
          await start();
        } catch (e) {
          const why = describeError(e, 'shortMessage', 'message').slice(0, 300);
          out.problems.push(`hot wallets not reconciled: the chain could not be reached: ${why}`);
          return out;
        }
      }
      for (const a of adapters.values()) {
        if (a.simulated) continue;
        try {
          const r = await hotWallets.reconcile(a as EvmAdapter, sweeps.inFlight);
          out.hotWallets.push(...r.checks);
          out.problems.push(...r.problems);
        } catch (e) {
          const why = describeError(e, 'shortMessage', 'message').slice(0, 300);
          out.problems.push(`hot wallet ${a.network}: balances could not be read: ${why}`);
        }
      }
      return out;
    },

    /** Readiness: each started network answers; an embedded chain not yet needed reports idle. */
    async readiness(): Promise<{ ok: boolean; detail: Record<string, string> }> {
      if (!started) return { ok: true, detail: { chain: 'idle (starts on first use)' } };
      const detail: Record<string, string> = {};
      let okAll = true;
      for (const a of adapters.values()) {
        if (a.simulated) continue;
        try {
          await a.ping();
          detail[a.network] = 'ok';
        } catch (e) {
          okAll = false;
          detail[a.network] = describeError(e, 'shortMessage', 'message');
        }
      }
      return { ok: okAll, detail };
    },

    async stop() {
      const s = starting;
      if (s) await s.catch(() => {});
      await Promise.all(anvils.splice(0).map((a) => a.stop()));
    },
  };
}

export type ChainService = ReturnType<typeof createChainService>;
export type { HotWalletCheck };
