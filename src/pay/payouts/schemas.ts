import { z } from 'zod';
import { Decimal } from '../../platform/money.ts';
import { coded, codedIssue } from '../../platform/validation.ts';
import type { PriceSource } from '../../prices/service.ts';
import { amount, FORMAT, httpUrl, MISSING, oneOf, text, upperCode, VALUE } from '../validation.ts';

/**
 * Wire shapes of batch payout (binance-pay-extended.md §10.1, §10.3, §10.4), keys in the order the spec checks them.
 * Unknown fields are ignored (the published sample's `merchantId` among them). Number literals arrive as their exact
 * source text, so amounts and counts are strings here.
 */
const BIZ_SCENES = [
  'DIRECT_TRANSFER',
  'CRYPTO_REWARDS',
  'SETTLEMENT',
  'REIMBURSEMENT',
  'MERCHANT_PAYMENT',
  'OTHERS',
] as const;
const RECEIVE_TYPES = ['PAY_ID', 'BINANCE_ID', 'EMAIL'] as const;
export type ReceiveType = (typeof RECEIVE_TYPES)[number];
const TRANSFER_METHODS = ['FUNDING_WALLET', 'SPOT_WALLET'] as const;
export const MAX_DETAILS = 500;

const alnumKey = (max: number) =>
  z
    .string()
    .min(1, coded(MISSING, 'must not be empty'))
    .regex(new RegExp(`^[A-Za-z0-9]{1,${max}}$`), coded(FORMAT, `must be 1-${max} letters or digits`));

/** RFC 5322 addr-spec in its dot-atom form (what mail systems accept in practice), at most 254 characters. */
const ADDR_SPEC =
  /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;
const isEmail = (v: string) => v.length <= 254 && ADDR_SPEC.test(v);

const digits = (max: number) =>
  z
    .string()
    .min(1, coded(MISSING, 'must not be empty'))
    .regex(new RegExp(`^[0-9]{1,${max}}$`), coded(FORMAT, `must be 1-${max} digits`));

/** A positive integer count in [min, max], sent as a JSON number (or its text). */
const count = (min: number, max: number) =>
  z
    .string()
    .min(1, coded(MISSING, 'must not be empty'))
    .regex(/^\d{1,9}$/, { ...coded(FORMAT, 'must be an integer'), abort: true })
    .refine((v) => Number(v) >= min && Number(v) <= max, coded(VALUE, `must be between ${min} and ${max}`));

const registration = {
  registrationEmail: z.string().max(254, coded(FORMAT, 'must be at most 254 characters')).nullish(),
  registrationMobileNumber: z
    .string()
    .regex(/^[0-9]{1,20}$/, coded(FORMAT, 'must be 1-20 digits'))
    .nullish(),
  registrationMobileCode: z
    .string()
    .regex(/^\+?[0-9]{1,5}$/, coded(FORMAT, 'must be a country calling code (digits)'))
    .nullish(),
};

/**
 * Decision: the phone is compared as a pair, so one half without the other is a missing parameter (400100), never a
 * silent partial comparison.
 */
function phonePair(
  o: { registrationMobileNumber?: string | null; registrationMobileCode?: string | null },
  ctx: z.RefinementCtx,
) {
  if (o.registrationMobileNumber && !o.registrationMobileCode)
    ctx.addIssue(codedIssue(MISSING, ['registrationMobileCode'], 'is required with registrationMobileNumber'));
  if (o.registrationMobileCode && !o.registrationMobileNumber)
    ctx.addIssue(codedIssue(MISSING, ['registrationMobileNumber'], 'is required with registrationMobileCode'));
}

/** USD value limits and the enabled assets come from the price source (§10.1: valued like §4.8). */
export interface PayoutLimits {
  prices: PriceSource;
  maxUsdPerTransfer: string;
}

const Detail = z
  .object({
    merchantSendId: alnumKey(32),
    receiveType: oneOf(RECEIVE_TYPES),
    receiver: z.string().min(1, coded(MISSING, 'must not be empty')),
    transferAmount: amount(),
    transferMethod: oneOf(TRANSFER_METHODS),
    remark: text(128).nullish(),
    ...registration,
  })
  .superRefine((d, ctx) => {
    if (d.receiveType === 'EMAIL') {
      if (!isEmail(d.receiver))
        ctx.addIssue(codedIssue(FORMAT, ['receiver'], 'must be an e-mail address (RFC 5322 addr-spec, ≤254)'));
    } else if (!/^[0-9]{1,20}$/.test(d.receiver))
      ctx.addIssue(codedIssue(FORMAT, ['receiver'], `must be 1-20 digits for ${d.receiveType}`));
    phonePair(d, ctx);
  });

/** POST /payout/transfer (§10.1). `limits` values each transfer in USD and says which currencies are enabled. */
export const payoutTransferSchema = (limits: PayoutLimits) =>
  z
    .object({
      requestId: alnumKey(32),
      bizScene: oneOf(BIZ_SCENES).nullish(),
      batchName: text(32),
      currency: upperCode().superRefine((c, ctx) => {
        if (limits.prices.fiatUsd(c) !== null)
          ctx.addIssue(codedIssue(VALUE, [], 'must be a crypto asset, not a fiat currency'));
        else if (limits.prices.cryptoUsd(c) === null) ctx.addIssue(codedIssue(VALUE, [], 'is not an enabled asset'));
      }),
      totalAmount: amount(),
      totalNumber: count(1, MAX_DETAILS),
      transferDetailList: z
        .array(Detail)
        .min(1)
        .max(MAX_DETAILS, coded(FORMAT, `must have at most ${MAX_DETAILS} items`)),
      webhookUrl: httpUrl(256).nullish(),
      subMerchantId: digits(19).nullish(),
    })
    .superRefine((o, ctx) => {
      // Field rules that span the list (after every field is well formed): unique merchantSendId, the USD cap.
      const seen = new Set<string>();
      const usd = limits.prices.cryptoUsd(o.currency);
      o.transferDetailList.forEach((d, i) => {
        if (seen.has(d.merchantSendId))
          ctx.addIssue(
            codedIssue(VALUE, ['transferDetailList', i, 'merchantSendId'], 'must be unique within the batch'),
          );
        seen.add(d.merchantSendId);
        if (usd !== null && new Decimal(d.transferAmount).mul(usd).gt(limits.maxUsdPerTransfer))
          ctx.addIssue(
            codedIssue(
              VALUE,
              ['transferDetailList', i, 'transferAmount'],
              `must be at most ${limits.maxUsdPerTransfer} USD equivalent per transfer`,
            ),
          );
      });
    });
export type PayoutTransfer = z.infer<ReturnType<typeof payoutTransferSchema>>;

const DETAIL_FILTERS = ['ALL', 'PROCESSING', 'SUCCESS', 'FAIL'] as const;
export type DetailFilter = (typeof DETAIL_FILTERS)[number];

/** POST /payout/query (§10.3). */
export const PayoutQuery = z.object({
  requestId: z
    .string()
    .min(1, coded(MISSING, 'must not be empty'))
    .max(32, coded(FORMAT, 'must be at most 32 characters')),
  detailStatus: z.array(oneOf(DETAIL_FILTERS)).nullish(),
});
export type PayoutQuery = z.infer<typeof PayoutQuery>;

/** POST /payout/receiver/check (§10.4). */
export const ReceiverCheck = z
  .object({
    receiveType: oneOf(['BINANCE_ID', 'PAY_ID'] as const),
    receiverId: digits(20),
    ...registration,
    openUserId: z
      .string()
      .min(1, coded(MISSING, 'must not be empty'))
      .max(64, coded(FORMAT, 'must be at most 64 characters'))
      .nullish(),
  })
  .superRefine((o, ctx) => {
    if (!o.registrationEmail && !o.registrationMobileNumber && !o.registrationMobileCode && !o.openUserId)
      ctx.addIssue(
        codedIssue(
          MISSING,
          [],
          'one of registrationEmail, registrationMobileNumber with registrationMobileCode, openUserId is required',
        ),
      );
    else phonePair(o, ctx);
  });
export type ReceiverCheck = z.infer<typeof ReceiverCheck>;
