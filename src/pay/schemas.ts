import { z } from 'zod';
import { coded, codedIssue } from '../platform/validation.ts';
import {
  amount,
  fitsInt8,
  FORMAT,
  httpUrl,
  INT8_MAX,
  ip,
  long,
  MISSING,
  oneOf,
  text,
  upperCode,
  VALUE,
} from './validation.ts';

/** Wire shapes of the Binance Pay merchant API requests (binance-pay.md §4). Unknown fields are ignored. */
const TERMINAL_TYPES = ['APP', 'WEB', 'WAP', 'MINI_PROGRAM', 'OTHERS'] as const;
const GOODS_CATEGORIES = [
  '0000',
  '1000',
  '2000',
  '3000',
  '4000',
  '5000',
  '6000',
  '7000',
  '8000',
  '9000',
  'A000',
  'B000',
  'C000',
  'D000',
  'E000',
  'F000',
  'Z000',
] as const;

const merchantTradeNo = z
  .string()
  .min(1, coded(MISSING, `must not be empty`))
  .regex(/^[A-Za-z0-9]{1,32}$/, coded('400201', 'must be 1-32 letters or digits'))
  .meta({ description: "The merchant's own order number, unique per merchant.", example: '9825382937292' });

// Example values for the OpenAPI page (documentation only: `meta` changes no validation).
const EXAMPLE_PREPAY_ID = '383729303729303748';
const currencyCode = (description: string) => upperCode().meta({ description, example: 'USDT' });

const Goods = z.object({
  goodsType: oneOf(['01', '02'] as const),
  goodsCategory: oneOf(GOODS_CATEGORIES).nullish(),
  referenceGoodsId: text(64).meta({ example: 'G-1' }),
  goodsName: text(256).meta({ example: 'Pistachio gelato' }),
  goodsDetail: text(256).nullish(),
  goodsUnitAmount: z.object({ currency: upperCode(), amount: amount() }).nullish(),
  goodsQuantity: z
    .string()
    .regex(/^[1-9]\d{0,8}$/, coded(FORMAT, `must be a positive integer`))
    .nullish(),
});

const orderCommon = {
  env: z.object({
    terminalType: oneOf(TERMINAL_TYPES).meta({ example: 'WEB' }),
    osType: oneOf(['IOS', 'ANDROID'] as const).nullish(),
    orderClientIp: ip().nullish(),
    cookieId: text(256).nullish(),
  }),
  merchant: z.object({ subMerchantId: text(19).nullish() }).nullish(),
  merchantTradeNo,
  orderAmount: amount()
    .meta({ description: 'Crypto amount, a decimal string (up to 8 places).', example: '25.17' })
    .nullish(),
  currency: currencyCode('Crypto currency of orderAmount.').nullish(),
  fiatAmount: amount(8, '0.00000001').meta({ example: '25.00' }).nullish(),
  fiatCurrency: z
    .string()
    .regex(/^[A-Z]{3}$/, coded(FORMAT, `must be an ISO 4217 code`))
    .nullish(),
  returnUrl: httpUrl().meta({ example: 'https://shop.example/thanks' }).nullish(),
  cancelUrl: httpUrl().meta({ example: 'https://shop.example/cart' }).nullish(),
  webhookUrl: httpUrl().meta({ example: 'https://shop.example/binancepay/webhook' }).nullish(),
  orderExpireTime: long().nullish(),
  supportPayCurrency: z
    .string()
    .max(256, coded(FORMAT, `must be at most 256 characters`))
    .regex(/^[A-Z0-9]+(,[A-Z0-9]+)*$/, coded(FORMAT, `must be a comma-separated list of currencies`))
    .meta({ example: 'USDT,BNB' })
    .nullish(),
  appId: text(64).nullish(),
  universalUrlAttach: text(256, { illegal: false }).nullish(),
  passThroughInfo: text(512, { illegal: false }).nullish(),
  shipping: z.unknown().optional(),
  buyer: z.unknown().optional(),
  directDebitContract: z.unknown().optional(),
  orderTags: z.unknown().optional(),
  voucherCode: z.unknown().optional(),
  qrCodeReferId: z.unknown().optional(),
};

function crossChecks(
  o: {
    orderAmount?: string | null;
    currency?: string | null;
    fiatAmount?: string | null;
    fiatCurrency?: string | null;
    env: { terminalType: string };
    appId?: string | null;
  },
  ctx: z.RefinementCtx,
) {
  // A crypto order is orderAmount + currency; a fiat order is fiatAmount + fiatCurrency, optionally with the
  // currency to price it in (USDT by default).
  const fiat = o.fiatAmount != null || o.fiatCurrency != null;
  if (o.orderAmount != null) {
    if (o.currency == null) ctx.addIssue(codedIssue(MISSING, ['currency'], `is required with orderAmount`));
  } else if (!fiat)
    ctx.addIssue(
      codedIssue(MISSING, ['orderAmount'], `orderAmount and currency, or fiatAmount and fiatCurrency, are required`),
    );
  else if (o.fiatAmount == null) ctx.addIssue(codedIssue(MISSING, ['fiatAmount'], `is required with fiatCurrency`));
  else if (o.fiatCurrency == null) ctx.addIssue(codedIssue(MISSING, ['fiatCurrency'], `is required with fiatAmount`));
  if (o.env.terminalType === 'MINI_PROGRAM' && !o.appId)
    ctx.addIssue(codedIssue(MISSING, ['appId'], `is required for MINI_PROGRAM`));
}

export const CreateOrderV3 = z
  .object({
    ...orderCommon,
    description: text(256).meta({ example: 'Two scoops, waffle cone' }),
    goodsDetails: z.array(Goods).min(1).max(100, coded(FORMAT, `must have at most 100 items`)),
  })
  .superRefine(crossChecks);
export type CreateOrderV3 = z.infer<typeof CreateOrderV3>;

export const CreateOrderV2 = z
  .object({
    ...orderCommon,
    description: text(256).nullish(),
    goods: Goods,
  })
  .superRefine(crossChecks);
export type CreateOrderV2 = z.infer<typeof CreateOrderV2>;

export const CreateOrderV1 = z.object({
  merchantId: long(),
  subMerchantId: text(19).nullish(),
  merchantTradeNo,
  tradeType: oneOf(['WEB', 'APP'] as const),
  totalFee: amount(8, '0.01', '20000').meta({ example: '25.17' }),
  currency: currencyCode('Crypto currency of totalFee.'),
  productType: text(16),
  productName: text(256),
  productDetail: text(256).nullish(),
  returnUrl: httpUrl().nullish(),
  cancelUrl: httpUrl().nullish(),
  orderExpireTime: long().nullish(),
});
export type CreateOrderV1 = z.infer<typeof CreateOrderV1>;

export const QueryOrder = z
  .object({
    prepayId: z
      .string()
      .regex(/^\d{1,19}$/, { ...coded(FORMAT, `must be a numeric id of at most 19 digits`), abort: true })
      .refine(fitsInt8, coded(VALUE, `must be at most ${INT8_MAX}`))
      .meta({ description: 'The order id Rampart answered at creation.', example: EXAMPLE_PREPAY_ID })
      .nullish(),
    merchantTradeNo: z
      .string()
      .max(32, coded(FORMAT, `must be at most 32 characters`))
      .meta({ example: '9825382937292' })
      .nullish(),
  })
  .superRefine((o, ctx) => {
    if (!o.prepayId && !o.merchantTradeNo)
      ctx.addIssue(codedIssue(MISSING, ['prepayId'], `prepayId or merchantTradeNo is required`));
  });
export type QueryOrder = z.infer<typeof QueryOrder>;

/** V1 query and close name the partner's sub-merchant at the top level (binance-pay-extended.md §12.4). */
export const QueryOrderV1 = z.object({ merchantId: long(), subMerchantId: text(19).nullish() }).and(QueryOrder);
export const CloseOrder = z.object({ subMerchantId: text(19).nullish() }).and(QueryOrder);

export const BalanceV2 = z.object({
  wallet: oneOf(['FUNDING_WALLET', 'SPOT_WALLET'] as const),
  currency: currencyCode('One currency, or absent for all.').nullish(),
});
export const BalanceV1 = z.object({
  wallet: oneOf(['FUNDING_WALLET', 'SPOT_WALLET'] as const).nullish(),
  currency: currencyCode('The currency.'),
});
