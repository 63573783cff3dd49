import type { Queryable } from '../../platform/db/client.ts';
import { Decimal } from '../../platform/money.ts';
import type { StatementOrder, StatementRefund } from '../reports/service.ts';

/**
 * The daily files of binance-pay-extended.md §13.1–§13.2: their kinds, names, columns and rows. Times are
 * `yyyy-MM-dd HH:mm:ss` UTC, amounts text with 8 decimals, an absent value an empty cell.
 */
export const DAY_MS = 86_400_000;

/** A payout detail as the T_Payout file shows it (§13.2), from the payout area. */
export interface PayoutReportRow {
  /** Business clock, ms. */
  createTime: number;
  requestId: string;
  batchName: string;
  bizScene: string | null;
  subMerchantId: string | null;
  orderId: string;
  merchantSendId: string;
  receiveType: string;
  receiver: string;
  payeeId: string | null;
  transferMethod: string;
  currency: string;
  amount: string;
  fee: string;
  /** The detail status (binance-pay-extended.md §10.2). */
  status: string;
  remark: string | null;
  finishTime: number | null;
}

/**
 * What the statements need from payouts: the merchant's payout details created in [from, to) (business clock ms),
 * in creation order. Payouts implement it (`reportRows`); until they are wired the source has none.
 */
export interface PayoutReportSource {
  reportRows(q: Queryable, merchantId: string, from: number, to: number): Promise<PayoutReportRow[]>;
}

export const NO_PAYOUTS: PayoutReportSource = { reportRows: async () => [] };

/** What the statements need from orders and refunds (src/pay/reports/service.ts `statementSources`). */
export interface OrderReportSource {
  orderDays(q: Queryable, merchantId: string, from: number, to: number): Promise<number[]>;
  ordersCreated(q: Queryable, merchantId: string, from: number, to: number): Promise<StatementOrder[]>;
  paidDays(q: Queryable, merchantId: string, from: number, to: number): Promise<number[]>;
  ordersPaid(q: Queryable, merchantId: string, from: number, to: number): Promise<StatementOrder[]>;
  refundDays(q: Queryable, merchantId: string, from: number, to: number): Promise<number[]>;
  refundsSucceeded(q: Queryable, merchantId: string, from: number, to: number): Promise<StatementRefund[]>;
}

export type DailyKind = 'T_Payment' | 'T_Payout' | 'S_Payment' | 'S_Refund';

export const COLUMNS: Record<DailyKind | 'Balance', string[]> = {
  T_Payment: [
    'Order Time',
    'Merchant ID',
    'Sub-merchant ID',
    'Prepay ID',
    'Merchant Trade No',
    'Transaction ID',
    'Terminal Type',
    'Currency',
    'Order Amount',
    'Commission',
    'Net Amount',
    'Refunded Amount',
    'Order Status',
    'Payer Open ID',
    'Product Name',
    'Paid Time',
  ],
  T_Payout: [
    'Create Time',
    'Request ID',
    'Batch Name',
    'Biz Scene',
    'Sub-merchant ID',
    'Order ID',
    'Merchant Send ID',
    'Receive Type',
    'Receiver',
    'Payee ID',
    'Transfer Method',
    'Currency',
    'Amount',
    'Fee',
    'Status',
    'Remark',
    'Finish Time',
  ],
  S_Payment: [
    'Settle Time',
    'Merchant ID',
    'Sub-merchant ID',
    'Prepay ID',
    'Merchant Trade No',
    'Transaction ID',
    'Currency',
    'Gross Amount',
    'Commission',
    'Net Settled',
  ],
  S_Refund: [
    'Refund Time',
    'Merchant ID',
    'Sub-merchant ID',
    'Refund ID',
    'Refund Request ID',
    'Prepay ID',
    'Merchant Trade No',
    'Currency',
    'Refund Amount',
  ],
  Balance: ['Time', 'Wallet', 'Asset', 'Change', 'Balance After', 'Type', 'Reference'],
};

/** `yyyy-MM-dd HH:mm:ss` UTC; empty for no time. */
export const cellTime = (ms: number | null): string =>
  ms === null ? '' : new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
/** 8 decimals (more only if the value really has them: never rounds money away). */
export const cellAmount = (v: Decimal.Value | null): string => {
  if (v === null) return '';
  const d = new Decimal(v);
  return d.decimalPlaces() > 8 ? d.toFixed() : d.toFixed(8);
};
const s = (v: string | null | undefined) => v ?? '';

/**
 * Net of an order: what reached the merchant (amount − commission) once paid; an unpaid order has none (0), its
 * commission 0 too.
 */
export function paymentRow(o: StatementOrder): string[] {
  const commission = o.commission ?? '0';
  const net = o.transactTime === null ? '0' : new Decimal(o.orderAmount).minus(commission);
  return [
    cellTime(o.createTime),
    o.merchantId,
    s(o.subMerchantId),
    o.prepayId,
    o.merchantTradeNo,
    s(o.transactionId),
    o.terminalType,
    o.currency,
    cellAmount(o.orderAmount),
    cellAmount(commission),
    cellAmount(net),
    cellAmount(o.refundedAmount),
    o.status,
    s(o.openUserId),
    o.productName,
    cellTime(o.transactTime),
  ];
}

export function settlementRow(o: StatementOrder): string[] {
  const commission = o.commission ?? '0';
  return [
    cellTime(o.transactTime),
    o.merchantId,
    s(o.subMerchantId),
    o.prepayId,
    o.merchantTradeNo,
    s(o.transactionId),
    o.currency,
    cellAmount(o.orderAmount),
    cellAmount(commission),
    cellAmount(new Decimal(o.orderAmount).minus(commission)),
  ];
}

export function refundRow(r: StatementRefund): string[] {
  return [
    cellTime(r.completedAt),
    r.merchantId,
    s(r.subMerchantId),
    r.refundId,
    r.refundRequestId,
    r.prepayId,
    r.merchantTradeNo,
    r.currency,
    cellAmount(r.refundAmount),
  ];
}

export function payoutRow(p: PayoutReportRow): string[] {
  return [
    cellTime(p.createTime),
    p.requestId,
    p.batchName,
    s(p.bizScene),
    s(p.subMerchantId),
    p.orderId,
    p.merchantSendId,
    p.receiveType,
    p.receiver,
    s(p.payeeId),
    p.transferMethod,
    p.currency,
    cellAmount(p.amount),
    cellAmount(p.fee),
    p.status,
    s(p.remark),
    cellTime(p.finishTime),
  ];
}

/** `dd/MM/yyyy` ↔ the UTC day's start (ms); null for anything that is not a real calendar date. */
export function parseDayDmy(v: string): number | null {
  const m = /^(\d{2})\/(\d{2})\/(\d{4})$/.exec(v);
  if (!m) return null;
  return calendarDay(Number(m[3]), Number(m[2]), Number(m[1]));
}
export function parseDayIso(v: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v);
  if (!m) return null;
  return calendarDay(Number(m[1]), Number(m[2]), Number(m[3]));
}
function calendarDay(y: number, mo: number, d: number): number | null {
  if (y < 1970) return null;
  const t = Date.UTC(y, mo - 1, d);
  const x = new Date(t);
  return x.getUTCFullYear() === y && x.getUTCMonth() === mo - 1 && x.getUTCDate() === d ? t : null;
}
const pad = (n: number) => String(n).padStart(2, '0');
export const dmy = (day: number) => {
  const d = new Date(day);
  return `${pad(d.getUTCDate())}/${pad(d.getUTCMonth() + 1)}/${d.getUTCFullYear()}`;
};
/** ddMMyyyy, as in the file names. */
export const dmyCompact = (day: number) => dmy(day).replace(/\//g, '');
export const ymdCompact = (day: number) => new Date(day).toISOString().slice(0, 10).replace(/-/g, '');
export const startOfDay = (ms: number) => Math.floor(ms / DAY_MS) * DAY_MS;

/** The day `months` calendar months after `day`, clamped to the end of a shorter month (31 Jan + 1 → 28/29 Feb). */
export function addMonths(day: number, months: number): number {
  const d = new Date(day);
  const target = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + months, 1));
  const last = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
  return Date.UTC(target.getUTCFullYear(), target.getUTCMonth(), Math.min(d.getUTCDate(), last));
}
