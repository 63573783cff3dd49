import { randomHex } from '../../platform/crypto.ts';
import type { Queryable } from '../../platform/db/client.ts';
import { Decimal } from '../../platform/money.ts';
import type { DbRow } from '../../platform/db/client.ts';

/** SQL of connect_orders. Amounts stay decimal strings; times are business-clock ms. */
export type MainStatus = 'INIT' | 'PROCESSING' | 'SUCCESS' | 'FAILURE';
export type SubStatus =
  | 'CREATED'
  | 'KYC_REVIEW'
  | 'PAYMENT_PROCESSING'
  | 'PURCHASE_PROCESSING'
  | 'WITHDRAW_PROCESSING'
  | 'WITHDRAW_FAILED'
  | 'COMPLETED'
  | 'FAILED';

export interface ConnectOrder {
  orderId: string;
  partnerCode: string;
  merchantOrderId: string;
  merchantUserId: string | null;
  businessType: string;
  fiatCurrency: string;
  cryptoCurrency: string;
  cryptoNetwork: string;
  cryptoAddress: string;
  cryptoAddressMemo: string;
  orderAmount: string;
  userFee: string;
  networkFee: string;
  quotePrice: string;
  executePrice: string;
  obtainAmount: string;
  mainStatus: MainStatus;
  subStatus: SubStatus;
  errorCode: string | null;
  errorReason: string | null;
  withdrawTxHash: string | null;
  merchantRedirectUrl: string | null;
  merchantNote: string | null;
  clientUserIp: string | null;
  expiredTime: number;
  createdAt: number;
  updatedAt: number;
  /** The API that created the order (binance-connect-v2.md §12): the only one that sees it. */
  generation: 1 | 2;
  /** Generation 2's own request fields; null for a gen-1 order. */
  gen2: Gen2Fields | null;
  /** Generation 2's published integer status (§5.1); null for a gen-1 order. */
  gen2Status: number | null;
  /** The link token, sealed (gen-2: orderDetailLink); null for a gen-1 order. */
  linkTokenSealed: string | null;
  /** §8 openUserId, once the user is known. */
  openUserId: string | null;
  /** When a final gen-2 status was reached. */
  completedAt: number | null;
}

/** What a gen-2 pre-order asked for beyond the shared order fields (binance-connect-v2.md §4.7). */
export interface Gen2Fields {
  amountType: 1 | 2;
  requestedAmount: string;
  payMethodCode: string | null;
  payMethodSubCode: string | null;
  redirectUrl: string | null;
  failRedirectUrl: string | null;
  redirectDeepLink: string | null;
  failRedirectDeepLink: string | null;
  clientType: 'web' | 'mobile' | null;
  /** Only the flags enabled for the partner, with their checked values (§7). */
  customization: Record<string, unknown>;
  userData: string | null;
  affiliateCode: string | null;
  gtrTemplateCode: string | null;
  /** The platform fee in USD at the pre-order reference rate (§8 feeAmount, feeCurrency "USD"). */
  feeUsd: string;
  /** Moved by the §9 sandbox operations (no funds): the hosted page no longer acts on it. */
  sandbox?: boolean;
  /** A send-primary order whose send was refused (short balance): a purchase from then on (§10.4). */
  sendFellBack?: boolean;
}

const d = (v: string) => new Decimal(v).toFixed();

/** What a creation decides about an order (either generation); everything else starts as for any new order. */
type DecidedAtCreation = Omit<
  ConnectOrder,
  | 'orderId'
  | 'executePrice'
  | 'obtainAmount'
  | 'mainStatus'
  | 'subStatus'
  | 'errorCode'
  | 'errorReason'
  | 'withdrawTxHash'
  | 'openUserId'
  | 'completedAt'
  | 'createdAt'
  | 'updatedAt'
>;

/** A new order in CREATED (INIT), not yet priced for execution, paid or withdrawn. */
export function newOrder(decided: DecidedAtCreation, now: number): ConnectOrder {
  return {
    orderId: `CNT${randomHex(15).slice(0, 29)}`,
    ...decided,
    executePrice: '0',
    obtainAmount: '0',
    mainStatus: 'INIT',
    subStatus: 'CREATED',
    errorCode: null,
    errorReason: null,
    withdrawTxHash: null,
    openUserId: null,
    completedAt: null,
    createdAt: now,
    updatedAt: now,
  };
}

export const toOrder = (r: DbRow): ConnectOrder => ({
  orderId: r.order_id,
  partnerCode: r.partner_code,
  merchantOrderId: r.merchant_order_id,
  merchantUserId: r.merchant_user_id,
  businessType: r.business_type,
  fiatCurrency: r.fiat_currency,
  cryptoCurrency: r.crypto_currency,
  cryptoNetwork: r.crypto_network,
  cryptoAddress: r.crypto_address,
  cryptoAddressMemo: r.crypto_address_memo,
  orderAmount: d(r.order_amount),
  userFee: d(r.user_fee),
  networkFee: d(r.network_fee),
  quotePrice: d(r.quote_price),
  executePrice: d(r.execute_price),
  obtainAmount: d(r.obtain_amount),
  mainStatus: r.main_status,
  subStatus: r.sub_status,
  errorCode: r.error_code,
  errorReason: r.error_reason,
  withdrawTxHash: r.withdraw_tx_hash,
  merchantRedirectUrl: r.merchant_redirect_url,
  merchantNote: r.merchant_note,
  clientUserIp: r.client_user_ip,
  expiredTime: Number(r.expired_time),
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
  generation: Number(r.api_generation ?? 1) === 2 ? 2 : 1,
  gen2: r.gen2 ?? null,
  gen2Status: r.gen2_status === null || r.gen2_status === undefined ? null : Number(r.gen2_status),
  linkTokenSealed: r.link_token_sealed ?? null,
  openUserId: r.open_user_id ?? null,
  completedAt: r.completed_at === null || r.completed_at === undefined ? null : Number(r.completed_at),
});

export async function insertOrder(q: Queryable, o: ConnectOrder, tokenHash: string): Promise<boolean> {
  const r = await q.query(
    `INSERT INTO connect_orders (order_id, partner_code, merchant_order_id, merchant_user_id, business_type,
      fiat_currency, crypto_currency, crypto_network,
       crypto_address, crypto_address_memo, order_amount, user_fee, network_fee, quote_price, main_status, sub_status,
       token_hash, merchant_redirect_url,
       merchant_note, client_user_ip, expired_time, created_at, updated_at, api_generation, gen2, gen2_status,
       link_token_sealed)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23,
       $24, $25, $26, $27)
     ON CONFLICT (partner_code, merchant_order_id) DO NOTHING`,
    [
      o.orderId,
      o.partnerCode,
      o.merchantOrderId,
      o.merchantUserId,
      o.businessType,
      o.fiatCurrency,
      o.cryptoCurrency,
      o.cryptoNetwork,
      o.cryptoAddress,
      o.cryptoAddressMemo,
      o.orderAmount,
      o.userFee,
      o.networkFee,
      o.quotePrice,
      o.mainStatus,
      o.subStatus,
      tokenHash,
      o.merchantRedirectUrl,
      o.merchantNote,
      o.clientUserIp,
      o.expiredTime,
      o.createdAt,
      o.updatedAt,
      o.generation,
      o.gen2 === null ? null : JSON.stringify(o.gen2),
      o.gen2Status,
      o.linkTokenSealed,
    ],
  );
  return r.rowCount === 1;
}

/** An order of the partner, as the API of `generation` sees it (each generation sees only its own orders, §12). */
export async function findOrder(
  q: Queryable,
  partnerCode: string,
  by: { merchantOrderId?: string; orderId?: string },
  generation: 1 | 2 = 1,
): Promise<ConnectOrder | null> {
  const r =
    by.merchantOrderId !== undefined
      ? await q.query(
          `SELECT * FROM connect_orders WHERE partner_code = $1 AND merchant_order_id = $2 AND api_generation = $3`,
          [partnerCode, by.merchantOrderId, generation],
        )
      : await q.query(
          `SELECT * FROM connect_orders WHERE partner_code = $1 AND order_id = $2 AND api_generation = $3`,
          [partnerCode, by.orderId, generation],
        );
  return r.rows[0] ? toOrder(r.rows[0]) : null;
}
