import {
  createPublicClient,
  defineChain,
  encodeFunctionData,
  erc20Abi,
  formatUnits,
  http,
  keccak256,
  parseUnits,
  type Address,
  type Hex,
  type PublicClient,
} from 'viem';
import type { LocalAccount } from 'viem/accounts';
import {
  planField,
  type BroadcastResult,
  type ChainAdapter,
  type PrepareFailure,
  type TxLookup,
  type TxPlan,
} from './port.ts';

/**
 * EVM network adapter on viem: native coin and ERC-20 transfers from the hot wallet.
 * It never picks a nonce itself: the withdrawal service allocates it in the database and passes it to sign().
 */
export interface EvmToken {
  asset: string;
  address: Address;
  decimals: number;
}

export interface EvmAdapter extends ChainAdapter {
  readonly client: PublicClient;
  readonly chainId: number;
  readonly rpcUrl: string;
  readonly tokens: Map<string, EvmToken>;
  readonly nativeAsset: string;
}

export function evmChain(id: number, name: string, nativeAsset: string, rpcUrl: string) {
  return defineChain({
    id,
    name,
    nativeCurrency: { name: nativeAsset, symbol: nativeAsset, decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
}

export function createPublicEvmClient(rpcUrl: string, chainId: number, nativeAsset = 'ETH'): PublicClient {
  return createPublicClient({
    chain: evmChain(chainId, `chain-${chainId}`, nativeAsset, rpcUrl),
    transport: http(rpcUrl, { retryCount: 0, timeout: 10_000 }),
  }) as PublicClient;
}

/** The fields read from a thrown value and its chain of causes (viem's errors and Node's carry them). */
type ErrorLink = {
  name?: unknown;
  code?: unknown;
  cause?: unknown;
  details?: unknown;
  shortMessage?: unknown;
  message?: unknown;
};

/** A thrown value, then its cause, its cause's cause, …, while they are truthy. */
function* causeChain(e: unknown): Generator<ErrorLink> {
  for (let c = e as ErrorLink | undefined; c; c = c.cause as ErrorLink | undefined) yield c;
}

/** Transport-level failures (connection refused, timeout) as opposed to the node answering with an error. */
function isUnreachable(e: unknown): boolean {
  for (const c of causeChain(e)) {
    if (c.name === 'HttpRequestError' || c.name === 'TimeoutError' || c.code === 'ECONNREFUSED') return true;
  }
  return false;
}

const errorText = (e: unknown) => {
  const parts: string[] = [];
  for (const c of causeChain(e)) parts.push(String(c.details ?? c.shortMessage ?? c.message ?? ''));
  return parts.join(' | ');
};

export function createEvmAdapter(deps: {
  network: string;
  nativeAsset: string;
  rpcUrl: string;
  chainId: number;
  hotWallet: LocalAccount;
  tokens: EvmToken[];
}): EvmAdapter {
  const { network, nativeAsset, rpcUrl, chainId, hotWallet } = deps;
  const client = createPublicEvmClient(rpcUrl, chainId, nativeAsset);
  const tokens = new Map(deps.tokens.map((t) => [t.asset, t]));
  const fail = (reason: PrepareFailure, message: string) => ({ ok: false as const, reason, message });

  return {
    network,
    simulated: false,
    hotAddress: hotWallet.address,
    client,
    chainId,
    rpcUrl,
    tokens,
    nativeAsset,

    async prepare(t) {
      const token = tokens.get(t.asset);
      if (!token && t.asset !== nativeAsset)
        return fail('ASSET_NOT_SUPPORTED', `${t.asset} has no contract on ${network}`);
      const to = t.address as Address;
      try {
        const units = parseUnits(t.amount, token ? token.decimals : 18);
        const call = token
          ? {
              to: token.address,
              value: 0n,
              data: encodeFunctionData({ abi: erc20Abi, functionName: 'transfer', args: [to, units] }),
            }
          : { to, value: units, data: undefined };
        const [fees, nativeBalance, tokenBalance] = await Promise.all([
          client.estimateFeesPerGas(),
          client.getBalance({ address: hotWallet.address }),
          token
            ? client.readContract({
                address: token.address,
                abi: erc20Abi,
                functionName: 'balanceOf',
                args: [hotWallet.address],
              })
            : Promise.resolve(0n),
        ]);
        if (token && tokenBalance < units)
          return fail(
            'INSUFFICIENT_HOT_WALLET_FUNDS',
            `hot wallet holds ${tokenBalance} ${t.asset} units, needs ${units}`,
          );
        if (nativeBalance < call.value)
          return fail('INSUFFICIENT_HOT_WALLET_FUNDS', `hot wallet holds ${nativeBalance} wei, needs ${call.value}`);
        let gas: bigint;
        try {
          gas = await client.estimateGas({
            account: hotWallet.address,
            to: call.to,
            value: call.value,
            data: call.data,
          });
        } catch (e) {
          if (isUnreachable(e)) throw e;
          if (/insufficient funds/i.test(errorText(e)))
            return fail('INSUFFICIENT_HOT_WALLET_FUNDS', 'hot wallet cannot pay the gas');
          return fail('GAS_ESTIMATION_FAILED', errorText(e).slice(0, 300));
        }
        if (nativeBalance < call.value + gas * fees.maxFeePerGas) {
          return fail(
            'INSUFFICIENT_HOT_WALLET_FUNDS',
            `hot wallet holds ${nativeBalance} wei, needs ${call.value + gas * fees.maxFeePerGas} with gas`,
          );
        }
        const plan: TxPlan = {
          to: call.to,
          value: call.value.toString(),
          data: call.data ?? '',
          gas: gas.toString(),
          maxFeePerGas: fees.maxFeePerGas.toString(),
          maxPriorityFeePerGas: fees.maxPriorityFeePerGas.toString(),
        };
        return { ok: true, plan };
      } catch (e) {
        if (isUnreachable(e))
          return fail('RPC_UNREACHABLE', `${network} node unreachable: ${errorText(e).slice(0, 200)}`);
        throw e;
      }
    },

    async chainNonce() {
      return client.getTransactionCount({ address: hotWallet.address, blockTag: 'pending' });
    },

    async sign(plan, nonce) {
      if (nonce === null) throw new Error('EVM transactions need a nonce');
      const raw = await hotWallet.signTransaction!({
        chainId,
        type: 'eip1559',
        nonce,
        to: plan.to as Address,
        value: BigInt(planField(plan, 'value')),
        data: (plan.data || undefined) as Hex | undefined,
        gas: BigInt(planField(plan, 'gas')),
        maxFeePerGas: BigInt(planField(plan, 'maxFeePerGas')),
        maxPriorityFeePerGas: BigInt(planField(plan, 'maxPriorityFeePerGas')),
      });
      return { hash: keccak256(raw), raw };
    },

    async broadcast(raw): Promise<BroadcastResult> {
      try {
        await client.request({ method: 'eth_sendRawTransaction', params: [raw as Hex] });
        return { ok: true };
      } catch (e) {
        const text = errorText(e);
        if (isUnreachable(e)) return { ok: false, reason: 'RPC_UNREACHABLE', message: text.slice(0, 300) };
        // The node already has exactly this transaction: broadcasting it again is a no-op.
        if (/already known|already imported|known transaction/i.test(text)) return { ok: true };
        if (/nonce too low|nonce.*already/i.test(text))
          return { ok: false, reason: 'NONCE_ALREADY_USED', message: text.slice(0, 300) };
        return { ok: false, reason: 'REJECTED', message: text.slice(0, 300) };
      }
    },

    async lookup(tx): Promise<TxLookup> {
      const hash = tx.hash as Hex;
      const receipt = await client.getTransactionReceipt({ hash }).catch((e) => {
        if (e?.name === 'TransactionReceiptNotFoundError') return null;
        throw e;
      });
      if (receipt) {
        const head = await client.getBlockNumber({ cacheTime: 0 });
        return {
          state: 'mined',
          success: receipt.status === 'success',
          blockNumber: receipt.blockNumber,
          confirmations: Number(head - receipt.blockNumber + 1n),
          // Paid whether it succeeded or reverted; wei → native units exactly (18 decimals on every EVM network).
          fee: formatUnits(receipt.gasUsed * receipt.effectiveGasPrice, 18),
        };
      }
      const pending = await client.getTransaction({ hash }).catch((e) => {
        if (e?.name === 'TransactionNotFoundError') return null;
        throw e;
      });
      return pending ? { state: 'pending' } : { state: 'unknown' };
    },

    async ping() {
      await client.getBlockNumber({ cacheTime: 0 });
    },
  };
}
