import { z } from 'zod';
import { coded, codedIssue } from '../../platform/validation.ts';
import { MERCHANT_WALLETS } from '../wallets.ts';
import { amount, long, MISSING, oneOf, upperCode, VALUE } from '../validation.ts';

/** Wire shapes of convert (binance-pay-extended.md §15). Unknown fields are ignored. */

/** The published range of a quote amount (§15.2). */
export const MAX_CONVERT_AMOUNT = '999999999999999.99999999';
const convertAmount = () => amount(8, '0.00000001', MAX_CONVERT_AMOUNT);

export const GetToSelector = z.object({ fromAsset: upperCode() });

export const GetQuote = z
  .object({
    wallet: oneOf(MERCHANT_WALLETS),
    fromAsset: upperCode(),
    toAsset: upperCode(),
    fromAmount: convertAmount().nullish(),
    toAmount: convertAmount().nullish(),
  })
  .superRefine((b, ctx) => {
    // The published table marks both Y while its note asks for one; Decision: exactly one (§15.2).
    if ((b.fromAmount == null) === (b.toAmount == null))
      ctx.addIssue(codedIssue(VALUE, [], 'exactly one of fromAmount and toAmount is required'));
  });
export type GetQuote = z.infer<typeof GetQuote>;

export const ExecuteQuote = z.object({
  quoteId: z.string().min(1, coded(MISSING, 'must not be empty')).max(64, coded(VALUE, 'is not a known quote')),
});

export const QueryTradeOrder = z.object({ orderId: long() });

/** One pair as the operator sets it (PUT /admin/v1/convert/pairs, §15.5). */
const limit = () => z.string().regex(/^\d+(\.\d{1,8})?$/, 'a decimal with at most 8 decimals');
export const PairConfig = z
  .object({
    fromAsset: z.string().regex(/^[A-Z0-9]{1,16}$/),
    toAsset: z.string().regex(/^[A-Z0-9]{1,16}$/),
    enabled: z.boolean().default(true),
    fromMin: limit(),
    fromMax: limit(),
    toMin: limit(),
    toMax: limit(),
    /** to-asset per from-asset; absent = the price source's USD valuation of both. */
    fixedRate: z
      .string()
      .regex(/^\d+(\.\d{1,18})?$/)
      .nullish(),
    /** Basis points off the mid; absent = `convert.spreadBps` (PAY_CONVERT_SPREAD_BPS) when the pairs are set. */
    spreadBps: z.number().int().min(0).max(9999).optional(),
    /** §15.1 `base`; absent = the from-asset is not a stablecoin (BNB in BNB→USDT). */
    base: z.boolean().optional(),
  })
  .refine((p) => p.fromAsset !== p.toAsset, 'a pair converts between two assets');
export type PairConfig = z.infer<typeof PairConfig>;
export const PutPairs = z.object({ pairs: z.array(PairConfig).max(500) });
