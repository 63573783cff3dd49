/**
 * The network adapter port: everything the withdrawal state machine needs from a chain.
 * The EVM adapter talks to a real node (anvil or CHAIN_RPC_URL); the simulated one stands in
 * for BTC/TRX/XRP/SOL in sandbox and says so (`simulated: true`).
 */
export type PrepareFailure =
  'INSUFFICIENT_HOT_WALLET_FUNDS' | 'RPC_UNREACHABLE' | 'GAS_ESTIMATION_FAILED' | 'ASSET_NOT_SUPPORTED';

interface WithdrawalTarget {
  withdrawalId: string;
  attempt: number;
  asset: string;
  address: string;
  memo: string;
  amount: string;
}

/** A fully specified, not yet signed transaction; JSON-safe (bigints as decimal strings). */
export type TxPlan = Record<string, string>;

/** A field the adapter itself put in its plan (prepare); a plan without it was not made by this adapter. */
export function planField(plan: TxPlan, key: string): string {
  const v = plan[key];
  if (v === undefined) throw new Error(`transaction plan has no ${key}`);
  return v;
}

interface SignedTx {
  hash: string;
  raw: string;
}

export type TxLookup =
  | { state: 'unknown' }
  | { state: 'pending' }
  /**
   * `fee`: what the transaction paid the network, in the native asset (decimal string); absent where nothing moves
   * (simulated).
   */
  | { state: 'mined'; success: boolean; blockNumber: bigint; confirmations: number; fee?: string };

export type BroadcastResult =
  { ok: true } | { ok: false; reason: 'REJECTED' | 'RPC_UNREACHABLE' | 'NONCE_ALREADY_USED'; message: string };

export interface ChainAdapter {
  readonly network: string;
  readonly simulated: boolean;
  /** Sending address whose nonces the platform allocates; null when the network has no account nonce. */
  readonly hotAddress: string | null;
  prepare(
    t: WithdrawalTarget,
  ): Promise<{ ok: true; plan: TxPlan } | { ok: false; reason: PrepareFailure; message: string }>;
  /** The chain's own count of transactions sent by the hot wallet (pending included). */
  chainNonce(): Promise<number>;
  sign(plan: TxPlan, nonce: number | null): Promise<SignedTx>;
  broadcast(raw: string): Promise<BroadcastResult>;
  lookup(tx: { hash: string; broadcastAt: number | null }): Promise<TxLookup>;
  ping(): Promise<void>;
}
