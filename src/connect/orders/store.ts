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
}

const d = (v: string) => new Decimal(v).toFixed();

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
});

export async function insertOrder(q: Queryable, o: ConnectOrder, tokenHash: string): Promise<boolean> {
  const r = await q.query(
    `INSERT INTO connect_orders (order_id, partner_code, merchant_order_id, merchant_user_id, business_type,
      fiat_currency, crypto_currency, crypto_network,
       crypto_address, crypto_address_memo, order_amount, user_fee, network_fee, quote_price, main_status, sub_status,
       token_hash, merchant_redirect_url,
       merchant_note, client_user_ip, expired_time, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)
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
    ],
  );
  return r.rowCount === 1;
}

export async function findOrder(
  q: Queryable,
  partnerCode: string,
  by: { merchantOrderId?: string; orderId?: string },
): Promise<ConnectOrder | null> {
  const r =
    by.merchantOrderId !== undefined
      ? await q.query(`SELECT * FROM connect_orders WHERE partner_code = $1 AND merchant_order_id = $2`, [
          partnerCode,
          by.merchantOrderId,
        ])
      : await q.query(`SELECT * FROM connect_orders WHERE partner_code = $1 AND order_id = $2`, [
          partnerCode,
          by.orderId,
        ]);
  return r.rows[0] ? toOrder(r.rows[0]) : null;
}
