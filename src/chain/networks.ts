/**
 * Network registry as data: which asset can move on which network, with what limits and fees.
 * It feeds Connect's get-crypto-network-list and every address/amount check in chain/.
 * Amounts are decimal strings (never floats); the wire layer prints them as JSON numbers.
 */
export type NetworkFamily = 'evm' | 'btc' | 'tron' | 'xrp' | 'sol';

interface NetworkInfo {
  /** Network code on the wire (`network` / `cryptoNetwork`). */
  code: string;
  name: string;
  family: NetworkFamily;
  /** Native coin of the network (pays the fees). */
  nativeAsset: string;
  addressRegex: string;
  memoRequired: boolean;
  memoRegex: string;
  confirmations: number;
  /** Average block interval, used by the sandbox simulated adapter to turn clock time into confirmations. */
  blockTimeMs: number;
  /** Chain id of the embedded sandbox dev chain (EVM only); mainnet ids are deliberately not reused. */
  devChainId?: number;
  explorerTxUrl: string;
}

export interface AssetNetwork {
  asset: string;
  network: string;
  withdrawFee: string;
  withdrawMin: string;
  withdrawMax: string;
  withdrawIntegerMultiple: string;
  /** Mainnet token contract; '' for the native coin. In sandbox the deployed test token replaces it. */
  contractAddress: string;
  decimals: number;
  withdrawEnabled: boolean;
  depositEnabled: boolean;
}

const EVM_REGEX = '^(0x)[0-9A-Fa-f]{40}$';

export const NETWORKS: Record<string, NetworkInfo> = {
  BTC: {
    code: 'BTC',
    name: 'Bitcoin',
    family: 'btc',
    nativeAsset: 'BTC',
    addressRegex: '^([13][a-km-zA-HJ-NP-Z1-9]{25,34}|(bc1|BC1)[a-zA-HJ-NP-Z02-9]{11,71})$',
    memoRequired: false,
    memoRegex: '',
    confirmations: 2,
    blockTimeMs: 600_000,
    explorerTxUrl: 'https://mempool.space/tx/{hash}',
  },
  ETH: {
    code: 'ETH',
    name: 'Ethereum (ERC20)',
    family: 'evm',
    nativeAsset: 'ETH',
    addressRegex: EVM_REGEX,
    memoRequired: false,
    memoRegex: '',
    confirmations: 12,
    blockTimeMs: 12_000,
    devChainId: 31337,
    explorerTxUrl: 'https://etherscan.io/tx/{hash}',
  },
  BSC: {
    code: 'BSC',
    name: 'BNB Smart Chain (BEP20)',
    family: 'evm',
    nativeAsset: 'BNB',
    addressRegex: EVM_REGEX,
    memoRequired: false,
    memoRegex: '',
    confirmations: 15,
    blockTimeMs: 3_000,
    devChainId: 31338,
    explorerTxUrl: 'https://bscscan.com/tx/{hash}',
  },
  TRX: {
    code: 'TRX',
    name: 'Tron (TRC20)',
    family: 'tron',
    nativeAsset: 'TRX',
    addressRegex: '^T[1-9A-HJ-NP-Za-km-z]{33}$',
    memoRequired: false,
    memoRegex: '',
    confirmations: 19,
    blockTimeMs: 3_000,
    explorerTxUrl: 'https://tronscan.org/#/transaction/{hash}',
  },
  XRP: {
    code: 'XRP',
    name: 'Ripple',
    family: 'xrp',
    nativeAsset: 'XRP',
    addressRegex: '^r[1-9A-HJ-NP-Za-km-z]{24,34}$',
    // Destination tag: an unsigned 32-bit integer (range checked in address.ts).
    memoRequired: true,
    memoRegex: '^[0-9]{1,10}$',
    confirmations: 1,
    blockTimeMs: 4_000,
    explorerTxUrl: 'https://livenet.xrpl.org/transactions/{hash}',
  },
  SOL: {
    code: 'SOL',
    name: 'Solana',
    family: 'sol',
    nativeAsset: 'SOL',
    addressRegex: '^[1-9A-HJ-NP-Za-km-z]{32,44}$',
    memoRequired: false,
    memoRegex: '',
    confirmations: 32,
    blockTimeMs: 400,
    explorerTxUrl: 'https://solscan.io/tx/{hash}',
  },
};

const an = (
  asset: string,
  network: string,
  fee: string,
  min: string,
  max: string,
  multiple: string,
  contractAddress: string,
  decimals: number,
): AssetNetwork => ({
  asset,
  network,
  withdrawFee: fee,
  withdrawMin: min,
  withdrawMax: max,
  withdrawIntegerMultiple: multiple,
  contractAddress,
  decimals,
  withdrawEnabled: true,
  depositEnabled: true,
});

export const ASSET_NETWORKS: AssetNetwork[] = [
  an('BTC', 'BTC', '0.0002', '0.001', '100', '0.00000001', '', 8),
  an('ETH', 'ETH', '0.0012', '0.005', '1000', '0.00000001', '', 18),
  an('USDT', 'ETH', '1', '10', '10000000000', '0.000001', '0xdAC17F958D2ee523a2206206994597C13D831ec7', 6),
  an('USDT', 'BSC', '0.29', '10', '10000000000', '0.000001', '0x55d398326f99059fF775485246999027B3197955', 18),
  an('USDT', 'TRX', '1', '10', '10000000000', '0.000001', 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t', 6),
  an('USDC', 'ETH', '1', '10', '10000000000', '0.000001', '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48', 6),
  an('USDC', 'BSC', '0.29', '10', '10000000000', '0.000001', '0x8AC76a51cc950d9822D68b83fE1Ad97B32Cd580d', 18),
  an('BUSD', 'BSC', '0.29', '10', '10000000000', '0.000001', '0xe9e7CEA3DedcA5984780Bafc599bD69ADd087D56', 18),
  an('BNB', 'BSC', '0.0005', '0.01', '10000', '0.00000001', '', 18),
  an('TRX', 'TRX', '1', '10', '10000000', '0.000001', '', 6),
  an('XRP', 'XRP', '0.2', '20', '10000000', '0.000001', '', 6),
  an('SOL', 'SOL', '0.008', '0.1', '100000', '0.000000001', '', 9),
];

/** Test tokens the sandbox deploys on the embedded dev chains; their decimals replace the mainnet ones there. */
export const SANDBOX_TOKENS: { network: string; asset: string; name: string; decimals: number }[] = [
  { network: 'ETH', asset: 'USDT', name: 'Tether USD (sandbox)', decimals: 6 },
  { network: 'ETH', asset: 'USDC', name: 'USD Coin (sandbox)', decimals: 6 },
  { network: 'BSC', asset: 'USDT', name: 'Tether USD (sandbox)', decimals: 6 },
  { network: 'BSC', asset: 'USDC', name: 'USD Coin (sandbox)', decimals: 6 },
  { network: 'BSC', asset: 'BUSD', name: 'Binance USD (sandbox)', decimals: 18 },
];

export const EVM_NETWORKS = Object.values(NETWORKS)
  .filter((n) => n.family === 'evm')
  .map((n) => n.code);

export function findAssetNetwork(asset: string, network: string): AssetNetwork | undefined {
  return ASSET_NETWORKS.find((a) => a.asset === asset && a.network === network);
}

/** The registry entry of a network the caller knows is supported (a stored or configured one); throws otherwise. */
export function networkInfo(network: string): NetworkInfo {
  const n = NETWORKS[network];
  if (!n) throw new Error(`unknown network ${network}`);
  return n;
}

export function explorerUrl(network: string, hash: string): string {
  const n = NETWORKS[network];
  return n ? n.explorerTxUrl.replace('{hash}', hash) : '';
}
