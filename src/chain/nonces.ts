import { onlyRow, type Queryable } from '../platform/db/client.ts';

/**
 * The next nonce of a sending address (the hot wallet, a deposit address being swept), allocated in the transaction
 * that records the signed transaction. Row-locked increment: concurrent allocators serialise here and each gets the
 * next number. GREATEST skips nonces the chain has already seen from this key outside the platform; never lower, so
 * never a reuse.
 */
export async function allocateNonce(q: Queryable, network: string, address: string, chainNonce: number) {
  await q.query(
    `INSERT INTO chain_nonces (network, address, next_nonce) VALUES ($1, $2, $3) ON CONFLICT (network, address)
      DO NOTHING`,
    [network, address, chainNonce],
  );
  const r = await q.query<{ nonce: bigint }>(
    `UPDATE chain_nonces SET next_nonce = GREATEST(next_nonce, $3) + 1 WHERE network = $1 AND address = $2
      RETURNING next_nonce - 1 AS nonce`,
    [network, address, chainNonce],
  );
  return Number(onlyRow(r).nonce);
}
