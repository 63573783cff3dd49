import { networkInfo } from '../chain/networks.ts';
import type { ChainService } from '../chain/service.ts';

/**
 * What the deposit pages show per asset and network. The minimum is the wallet's own rule of thumb (below it the
 * sweep costs more gas than the deposit is worth); the chain watcher credits every transfer it sees, so a smaller
 * deposit is still credited, and the page says so.
 */
const MIN_DEPOSIT: Record<string, string> = {
  USDT: '1',
  USDC: '1',
  BUSD: '1',
  ETH: '0.001',
  BNB: '0.005',
};

export interface DepositOption {
  asset: string;
  network: string;
  networkName: string;
  /** The ERC-20 contract; null for the network's native coin. */
  contract: string | null;
  decimals: number;
  confirmations: number;
  minDeposit: string;
}

/** Every asset a payer can deposit: the EVM networks with an adapter (the deposit address is an EVM address). */
export async function depositOptions(chain: ChainService): Promise<DepositOption[]> {
  const list = await chain.networkList();
  return list
    .filter((a) => a.depositEnabled && !a.simulated && networkInfo(a.network).family === 'evm')
    .map((a) => ({
      asset: a.asset,
      network: a.network,
      networkName: networkInfo(a.network).name,
      contract: a.contractAddress || null,
      decimals: a.decimals,
      confirmations: a.confirmations,
      minDeposit: MIN_DEPOSIT[a.asset] ?? '0',
    }));
}

/**
 * The QR code's content: EIP-681 for a token (`ethereum:<contract>@<chainId>/transfer?address=<to>`, which wallets
 * that support it open as a token transfer on the right chain), the plain address for the native coin (the form
 * every wallet reads).
 */
export function depositUri(o: DepositOption, chainId: number, address: string): string {
  return o.contract ? `ethereum:${o.contract}@${chainId}/transfer?address=${address}` : address;
}
