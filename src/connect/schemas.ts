import { z } from 'zod';
import { isValidIpOrCidr } from '../platform/ip.ts';
import { Decimal } from '../platform/money.ts';
import { coded, codedBy, codedIssue, wireCodeOf } from '../platform/validation.ts';

/**
 * Request shapes of the Connect partner API (binance-connect.md §4), each the validator, the OpenAPI body and the
 * handler's input type. Parameter errors carry their domain code (MISSING_PARAMETER → OPE100000011, INVALID_PARAMETER
 * → OPE100000010, codes.ts) and name the field; keys are in the order the spec checks them, so the first issue is the
 * answer. Number literals arrive as their exact source text (the lossless parser), so amounts are strings here.
 */
const MISSING = 'MISSING_PARAMETER';
const INVALID = 'INVALID_PARAMETER';
const absent = (v: unknown) => v === undefined || v === null;

/** A non-empty string: absent or empty is MISSING_PARAMETER, another JSON type INVALID_PARAMETER. */
const requiredString = (field: string) =>
  z
    .string(
      codedBy((iss) =>
        absent(iss.input) ? [MISSING, `${field} is required`] : [INVALID, `${field} must be a string`],
      ),
    )
    .min(1, coded(MISSING, `${field} is required`));

/** An optional string: absent or empty is null. */
const optionalString = (field: string, max: number) => {
  const wrong = `${field} must be a string of at most ${max} characters`;
  return z.preprocess(
    (v) => (absent(v) || v === '' ? null : v),
    z.string(coded(INVALID, wrong)).max(max, coded(INVALID, wrong)).nullable(),
  );
};

const DECIMAL = /^\d+(\.\d+)?$/;
/** A positive decimal, normalized (no trailing zeros). */
const positiveAmount = (field: string) =>
  z
    .string(
      codedBy((iss) =>
        absent(iss.input) ? [MISSING, `${field} is required`] : [INVALID, `${field} must be a positive number`],
      ),
    )
    .min(1, { ...coded(MISSING, `${field} is required`), abort: true })
    .refine((v) => DECIMAL.test(v) && new Decimal(v).gt(0), coded(INVALID, `${field} must be a positive number`))
    .transform((v) => new Decimal(v).toFixed());

/** Checked field by field by the order service (orders/service.ts), in the order of the spec's errors. */
export const AnyObject = z.looseObject({});

const str = (description: string, example?: string) => ({ type: 'string', description, example });

/**
 * buy-withdraw-crypto's body as the wire carries it (binance-connect.md §4.4), for OpenAPI only: the order service
 * checks the fields itself, in the order of the spec's errors, so the validator stays AnyObject.
 */
export const BuyWithdrawCrypto = AnyObject.meta({
  description: 'A buy order; amounts are JSON numbers. Answers the hosted buy-flow link (eternalRedirectUrl).',
  required: ['merchantOrderId', 'fiatCurrency', 'cryptoCurrency', 'orderAmount', 'withdrawCryptoInfo'],
  properties: {
    merchantOrderId: str('Unique per partner, ^[A-Za-z0-9_-]{1,64}$.', '1684600000000'),
    businessType: str('BUY (default).', 'BUY'),
    fiatCurrency: str('Fiat of a listed pair (get-trade-pair-list).', 'EUR'),
    cryptoCurrency: str('Crypto of a listed pair.', 'USDT'),
    baseCurrency: str('Currency of orderAmount; must equal fiatCurrency.', 'EUR'),
    orderAmount: { type: 'number', description: "Fiat amount, within the pair's limits.", example: 50 },
    withdrawCryptoInfo: {
      type: 'object',
      required: ['cryptoNetwork', 'cryptoAddress'],
      properties: {
        cryptoNetwork: str('A network listed for cryptoCurrency.', 'ETH'),
        cryptoAddress: str(
          "The user's address, checksum-checked for the network.",
          '0x52908400098527886E0F7030069857D2E4169EE7',
        ),
        cryptoAddressMemo: str('Required when the network has memoRequired; else empty.', ''),
      },
    },
    merchantUserId: str("The partner's user id (≤64), to open the flow on log-in next time.", 'u-8841'),
    merchantRedirectUrl: str(
      "Where the flow returns; host in the partner's redirect domains.",
      'https://wallet.example/done',
    ),
    channelInfo: { type: 'object', properties: { paymentMethod: str('CARD (default).', 'CARD') } },
    clientUserIp: str("The end user's IP (a restricted region is refused).", '203.0.113.7'),
    merchantNote: str('Free text, ≤256.'),
  },
} as Record<string, unknown>);

export const GetQuote = z.object({
  fiatCurrency: requiredString('fiatCurrency'),
  cryptoCurrency: requiredString('cryptoCurrency'),
  cryptoNetwork: requiredString('cryptoNetwork'),
  paymentMethod: requiredString('paymentMethod'),
  fiatAmount: positiveAmount('fiatAmount'),
  countryCode: optionalString('countryCode', 2).refine(
    (v) => v === null || /^[A-Za-z]{2}$/.test(v),
    coded(INVALID, 'countryCode must be ISO 3166-1 alpha-2'),
  ),
});

/** By merchantOrderId, or by orderId when only that is given. */
export const QueryOrderList = z
  .object({ merchantOrderId: z.unknown().optional(), orderId: z.unknown().optional() })
  .transform((b, ctx): { merchantOrderId: string } | { orderId: string } => {
    const field = b.merchantOrderId === undefined && b.orderId !== undefined ? 'orderId' : 'merchantOrderId';
    const v = requiredString(field).safeParse(b[field]);
    if (v.success) return field === 'orderId' ? { orderId: v.data } : { merchantOrderId: v.data };
    ctx.addIssue(codedIssue(wireCodeOf(v.error.issues[0]!) ?? INVALID, [field], v.error.issues[0]!.message));
    return z.NEVER;
  });

/** The end user's IP address as clientUserIp (or userIp when only that is given); one address, not a range. */
export const CheckIpAddress = z
  .object({ clientUserIp: z.unknown().optional(), userIp: z.unknown().optional() })
  .transform((b, ctx): { ip: string } => {
    const field = b.clientUserIp === undefined && b.userIp !== undefined ? 'userIp' : 'clientUserIp';
    const v = requiredString(field).safeParse(b[field]);
    if (!v.success) {
      ctx.addIssue(codedIssue(wireCodeOf(v.error.issues[0]!) ?? INVALID, [field], v.error.issues[0]!.message));
      return z.NEVER;
    }
    if (!isValidIpOrCidr(v.data) || v.data.includes('/')) {
      ctx.addIssue(codedIssue(INVALID, [field], `${field} must be an IPv4 or IPv6 address`));
      return z.NEVER;
    }
    return { ip: v.data };
  });
