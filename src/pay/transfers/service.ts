import type { Clock } from '../../platform/clock.ts';
import type { Db, DbRow } from '../../platform/db/client.ts';
import { DomainError, err, ok, type Result } from '../../platform/errors.ts';
import type { Ledger } from '../../platform/ledger/service.ts';
import { Decimal } from '../../platform/money.ts';
import type { ExtendedError } from '../codes.ts';
import { replayOf, requestFingerprint } from '../idempotency.ts';
import type { Actor } from '../orders/service.ts';
import { merchantAccount, type MerchantWallet } from '../wallets.ts';
import type { TransferType, WalletTransfer } from './schemas.ts';

/**
 * Wallet transfers between a merchant's funding and spot wallets (binance-pay-extended.md §11). Synchronous: one
 * ledger move in the transaction that stores the transfer. A source wallet without enough available balance is no
 * envelope error: the transfer is stored with status FAILURE and nothing moves (§19, "balance shortfalls are never
 * envelope errors"). Rampart never answers PROCESS.
 *
 * Idempotency (§9.4): the requestId is the merchant's key (unique per merchant, with the fingerprint of the request's
 * parameters); a replay with the same parameters gets the stored transfer, whatever its status, and moves nothing.
 */
type TransferStatus = 'SUCCESS' | 'FAILURE';

export interface Transfer {
  tranId: string;
  status: TransferStatus;
  currency: string;
  /** The amount as the request wrote it (§11.1: echoed as sent). */
  amount: string;
  transferType: TransferType;
}

/** Which wallet each type takes from and gives to (§11.1). */
const DIRECTION: Record<TransferType, { from: MerchantWallet; to: MerchantWallet }> = {
  TO_MAIN: { from: 'FUNDING_WALLET', to: 'SPOT_WALLET' },
  TO_PAY: { from: 'SPOT_WALLET', to: 'FUNDING_WALLET' },
};

const toTransfer = (r: DbRow): Transfer => ({
  tranId: r.request_id,
  status: r.status,
  currency: r.currency,
  amount: r.amount_sent,
  transferType: r.transfer_type,
});

export function createTransferService(deps: { db: Db; clock: Clock; ledger: Ledger }) {
  const { db, clock, ledger } = deps;

  async function stored(merchantId: string, requestId: string) {
    return (
      await db.query(`SELECT * FROM pay_wallet_transfers WHERE merchant_id = $1 AND request_id = $2`, [
        merchantId,
        requestId,
      ])
    ).rows[0];
  }

  /** The stored transfer answers a replay only if its parameters are the same. */
  const replay = (row: DbRow, fingerprint: string) =>
    replayOf(fingerprint, { field: 'requestId', column: 'request_id' }, toTransfer)(row);

  const INSERT = `INSERT INTO pay_wallet_transfers (merchant_id, request_id, fingerprint, creator_merchant_id, currency,
      amount, amount_sent, transfer_type, status, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (merchant_id, request_id) DO NOTHING
    RETURNING request_id`;

  return {
    async transfer(actor: Actor, input: WalletTransfer): Promise<Result<Transfer, ExtendedError>> {
      const merchantId = actor.merchantId;
      // Normalized parameters: 1.5 and "1.50" are the same amount.
      const fingerprint = requestFingerprint({
        currency: input.currency,
        amount: new Decimal(input.amount).toFixed(),
        transferType: input.transferType,
      });
      const existing = await stored(merchantId, input.requestId);
      if (existing) return replay(existing, fingerprint);
      const row = (status: TransferStatus) => [
        merchantId,
        input.requestId,
        fingerprint,
        actor.creatorMerchantId,
        input.currency,
        input.amount,
        input.amount,
        input.transferType,
        status,
        clock.now(),
      ];
      const { from, to } = DIRECTION[input.transferType];
      let moved: boolean;
      try {
        // The row and the move commit together; the ledger's conditional update is the balance check, so of two
        // transfers racing for one balance only as many succeed as it covers.
        moved = await db.tx(async (q) => {
          if ((await q.query(INSERT, row('SUCCESS'))).rowCount === 0) return false; // a concurrent twin stored it
          await ledger.transfer(q, {
            id: `wallet-transfer:${merchantId}:${input.requestId}`,
            debit: merchantAccount(merchantId, from, input.currency),
            credit: merchantAccount(merchantId, to, input.currency),
            amount: input.amount,
            kind: 'pay.wallet_transfer',
            ref: input.requestId,
          });
          return true;
        });
      } catch (e) {
        if (!(e instanceof DomainError && e.code === 'INSUFFICIENT_FUNDS')) throw e;
        // Rolled back: nothing moved. The attempt is recorded as FAILURE (unless a twin request stored one first).
        await db.query(INSERT, row('FAILURE'));
        moved = false;
      }
      const after = await stored(merchantId, input.requestId);
      if (!after) throw new Error(`transfer ${input.requestId} of ${merchantId} not stored`);
      return moved ? ok(toTransfer(after)) : replay(after, fingerprint);
    },

    /** The merchant's latest transfers, newest first (the dashboard's wallet page). */
    async recent(merchantId: string, limit = 20): Promise<(Transfer & { createdAt: number })[]> {
      const rows = (
        await db.query(
          `SELECT * FROM pay_wallet_transfers WHERE merchant_id = $1 ORDER BY created_at DESC, request_id LIMIT $2`,
          [merchantId, limit],
        )
      ).rows;
      return rows.map((r) => ({ ...toTransfer(r), createdAt: Number(r.created_at) }));
    },

    async get(merchantId: string, tranId: string): Promise<Result<Transfer, ExtendedError>> {
      const row = await stored(merchantId, tranId);
      return row ? ok(toTransfer(row)) : err('TRANSFER_NOT_FOUND', 'Transfer not found.');
    },
  };
}

export type TransferService = ReturnType<typeof createTransferService>;
