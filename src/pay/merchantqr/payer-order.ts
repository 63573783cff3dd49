import { setTimeout as sleep } from 'node:timers/promises';
import { err, ok, type Result } from '../../platform/errors.ts';
import type { Mode } from '../features.ts';
import { PAY_CURRENCIES, type NewOrder, type Order, type OrderService } from '../orders/service.ts';
import { CreateOrderV3 } from '../schemas.ts';
import type { MerchantQrService, Scan } from './service.ts';

/**
 * The sandbox's "a payer scanning a static QR pays an amount they enter" (issue 18 on binance-pay-extended.md §17.3).
 * In production the merchant creates the scan's order (V3 create order with `qrCodeReferId`); in the sandbox the
 * payer's waiting page may create it on the merchant's behalf: the amount they enter (USER_INPUT_AMOUNT) or the
 * registered one (FIXED_AMOUNT). The order is the one the merchant's own V3 call would make — the same wire checks
 * (CreateOrderV3), the same order service with its hooks (the scan claimed and linked, payable by the scanner only),
 * the same checkout — under the merchantTradeNo `qr<referId>`, so a second submit, or one racing it, finds that
 * order instead of making another.
 */
export type PayerOrderError = 'SANDBOX_ONLY' | 'NOT_FOUND' | 'INVALID_AMOUNT' | 'REFUSED';

/** How long a refused submit waits for the order a racing submit (or the merchant) is creating for the scan. */
const SETTLE_WAIT_MS = 3000;
const AMOUNT_MESSAGE = 'Enter an amount above zero with at most 8 decimals.';

export const payerTradeNo = (referId: string) => `qr${referId}`;

/** Letters V3 refuses in a description or goods name (src/pay/validation.ts `text`), left out of the code's label. */
const NOT_IN_GOODS_NAME = /[\\"\p{Cc}\p{Extended_Pictographic}]/gu;

export function createQrPayerOrders(deps: { merchantQr: MerchantQrService; orders: OrderService; mode: Mode }) {
  const { merchantQr, orders } = deps;

  /** The scan's order once linked, waiting up to `waitMs` for one being created. */
  async function linkedOrder(referId: string, waitMs: number): Promise<Order | null> {
    for (let waited = 0; ; waited += 50) {
      const s = await merchantQr.getScan(referId);
      if (s?.prepayId) return orders.getByPrepayId(s.prepayId);
      if (waited >= waitMs) return null;
      await sleep(50);
    }
  }

  return {
    /** Whether the waiting page offers the payer to create the order (the sandbox only). */
    offered: () => deps.mode === 'sandbox',

    /**
     * Creates the order of `scan` (the caller checked the scan is the logged-in payer's) for the amount entered, or
     * the code's own for a FIXED_AMOUNT code; the scan's existing order when there is one.
     */
    async create(scan: Scan, entered: { amount?: string; currency?: string }): Promise<Result<Order, PayerOrderError>> {
      if (deps.mode !== 'sandbox') return err('SANDBOX_ONLY', 'Only the merchant creates this order.');
      const code = await merchantQr.getCode(scan.code);
      if (!code) return err('NOT_FOUND', 'Code not found.');
      const existing = await linkedOrder(scan.referId, 0);
      if (existing) return ok(existing);
      if (scan.expireTime <= merchantQr.now()) return err('REFUSED', 'This scan has expired: scan the code again.');
      const [amount, currency] =
        code.qrType === 'FIXED_AMOUNT'
          ? [code.amount!, code.currency!]
          : [(entered.amount ?? '').trim(), (entered.currency ?? '').trim()];
      if (!PAY_CURRENCIES.includes(currency)) return err('INVALID_AMOUNT', 'Choose one of the listed currencies.');
      const name = code.label.replace(NOT_IN_GOODS_NAME, '').trim() || `QR code ${code.code}`;
      const body = CreateOrderV3.safeParse({
        env: { terminalType: 'WEB' },
        merchantTradeNo: payerTradeNo(scan.referId),
        orderAmount: amount,
        currency,
        description: name,
        goodsDetails: [
          {
            goodsType: '02',
            goodsCategory: 'Z000',
            referenceGoodsId: code.code,
            goodsName: name,
          },
        ],
        qrCodeReferId: scan.referId,
      });
      if (!body.success) {
        const onAmount = body.error.issues.some((i) => i.path[0] === 'orderAmount');
        if (onAmount) return err('INVALID_AMOUNT', AMOUNT_MESSAGE);
        throw new Error(`merchant QR order: ${body.error.message}`); // every other field is built above
      }
      const b = body.data;
      const goods = b.goodsDetails[0]!;
      // As the V3 route maps its body (src/pay/routes.ts), for the fields set here.
      const input: NewOrder = {
        apiVersion: 'v3',
        merchantTradeNo: b.merchantTradeNo,
        terminalType: b.env.terminalType,
        currency: b.currency,
        orderAmount: b.orderAmount,
        description: b.description,
        goods: b.goodsDetails,
        productType: goods.goodsCategory ?? goods.goodsType,
        productName: goods.goodsName,
        productDetail: goods.goodsDetail ?? null,
        extra: { env: b.env, qrCodeReferId: b.qrCodeReferId },
      };
      const made = await orders.create({ merchantId: scan.merchantId, creatorMerchantId: scan.merchantId }, input);
      if (made.ok) return made;
      // A twin submit holds the trade number, or the merchant's own order took the scan: that order is the answer.
      const settled = await linkedOrder(scan.referId, SETTLE_WAIT_MS);
      if (settled) return ok(settled);
      return err('REFUSED', made.message ?? 'The order could not be created.');
    },
  };
}
export type QrPayerOrders = ReturnType<typeof createQrPayerOrders>;
