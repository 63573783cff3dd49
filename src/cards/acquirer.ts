import type { Clock } from '../platform/clock.ts';
import { hmacSha256Hex, randomHex } from '../platform/crypto.ts';
import type { Db } from '../platform/db/client.ts';
import { Decimal } from '../platform/money.ts';
import type { CheckedCard } from './validate.ts';
import type { CardBrand } from './support.ts';
import type { DbRow } from '../platform/db/client.ts';

/**
 * The card acquirer port. Only `tokenize` ever sees the PAN and CVV; everything after works on the token.
 *
 * A charge is an authorization first (possibly behind a 3-D Secure challenge), then captured, voided or, once
 * captured, refunded: the four card movements the ledger mirrors. Every call is idempotent: `authorize` by the
 * caller's ref (the same ref returns the same charge and never authorizes twice), the others by charge id and
 * the state they move from (capturing a captured charge returns it unchanged).
 */
export type ChargeStatus =
  | 'CHALLENGE'
  | 'AUTHORIZED'
  | 'DECLINED'
  | 'INSUFFICIENT_FUNDS'
  | 'THREE_DS_FAILED'
  | 'CAPTURED'
  | 'VOIDED'
  | 'REFUNDED';

interface TokenizedCard {
  token: string;
  brand: CardBrand;
  last4: string;
  /**
   * The same card number gives the same fingerprint (a keyed hash kept by the acquirer), so saved cards de-duplicate.
   */
  fingerprint: string;
  /** Issuing country when the processor reports it (ISO alpha-2), else null. */
  issuerCountry: string | null;
}

export interface Charge {
  chargeId: string;
  ref: string;
  status: ChargeStatus;
  amount: string;
  currency: string;
}

export interface Acquirer {
  tokenize(card: CheckedCard): Promise<TokenizedCard>;
  authorize(c: { token: string; amount: string; currency: string; ref: string }): Promise<Charge>;
  /**
   * The cardholder's answer to a 3-D Secure challenge: CHALLENGE → AUTHORIZED or THREE_DS_FAILED; any other state is
   * left as it is.
   */
  completeChallenge(chargeId: string, passed: boolean): Promise<Charge | null>;
  /** AUTHORIZED → CAPTURED. */
  capture(chargeId: string): Promise<Charge | null>;
  /** CHALLENGE or AUTHORIZED → VOIDED: the hold on the cardholder's funds is released, nothing was taken. */
  void(chargeId: string): Promise<Charge | null>;
  /** CAPTURED → REFUNDED. */
  refund(chargeId: string): Promise<Charge | null>;
  getCharge(chargeId: string): Promise<Charge | null>;
  /** The charge made with the caller's ref, if any (the operator's view of an order's attempts). */
  getChargeByRef(ref: string): Promise<Charge | null>;
  /** Every charge with its state, for the audit's reconciliation (a real acquirer's settlement report). */
  listCharges(): Promise<Charge[]>;
}

/** Sandbox test cards (platform.md), plus a 3-D Secure challenge card and one issued in an unsupported country. */
const SANDBOX_CARDS: Record<
  string,
  { behavior: 'approve' | 'decline' | 'insufficient' | 'challenge'; issuerCountry: string | null }
> = {
  '4242424242424242': { behavior: 'approve', issuerCountry: null },
  '5555555555554444': { behavior: 'approve', issuerCountry: null },
  '4000000000000002': { behavior: 'decline', issuerCountry: null },
  '4000000000009995': { behavior: 'insufficient', issuerCountry: null },
  '4000000000003220': { behavior: 'challenge', issuerCountry: null },
  '4000006430000009': { behavior: 'approve', issuerCountry: 'RU' },
};

const toCharge = (r: DbRow): Charge => ({
  chargeId: r.id,
  ref: r.ref,
  status: r.status,
  amount: new Decimal(r.amount).toFixed(),
  currency: r.currency,
});

/** Which state each call moves a charge from, and to. */
const MOVES = {
  capture: { from: ['AUTHORIZED'], to: 'CAPTURED' },
  void: { from: ['CHALLENGE', 'AUTHORIZED'], to: 'VOIDED' },
  refund: { from: ['CAPTURED'], to: 'REFUNDED' },
} as const;

/**
 * Sandbox acquirer: keeps only the token with the test card's behaviour and a keyed fingerprint (never the PAN).
 * Unknown valid cards are approved.
 */
export function createSandboxAcquirer(deps: { db: Db; clock: Clock; fingerprintKey: string }): Acquirer {
  const { db, clock } = deps;
  const get = async (id: string) => {
    const r = (await db.query(`SELECT * FROM card_charges WHERE id = $1`, [id])).rows[0];
    return r ? toCharge(r) : null;
  };
  const move = async (chargeId: string, m: { from: readonly string[]; to: string }) => {
    await db.query(`UPDATE card_charges SET status = $2, updated_at = $3 WHERE id = $1 AND status = ANY($4::text[])`, [
      chargeId,
      m.to,
      clock.now(),
      m.from,
    ]);
    return get(chargeId);
  };
  return {
    async tokenize(card) {
      const t = SANDBOX_CARDS[card.pan] ?? { behavior: 'approve', issuerCountry: null };
      const token = `tok_${randomHex(16)}`;
      const fingerprint = hmacSha256Hex(deps.fingerprintKey, card.pan).slice(0, 32);
      await db.query(
        `INSERT INTO card_tokens (token, behavior, brand, last4, issuer_country, fingerprint, created_at)
          VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [token, t.behavior, card.brand, card.pan.slice(-4), t.issuerCountry, fingerprint, clock.now()],
      );
      return { token, brand: card.brand, last4: card.pan.slice(-4), fingerprint, issuerCountry: t.issuerCountry };
    },
    async authorize(c) {
      const tok = (await db.query(`SELECT behavior FROM card_tokens WHERE token = $1`, [c.token])).rows[0];
      const status: ChargeStatus = !tok
        ? 'DECLINED'
        : tok.behavior === 'decline'
          ? 'DECLINED'
          : tok.behavior === 'insufficient'
            ? 'INSUFFICIENT_FUNDS'
            : tok.behavior === 'challenge'
              ? 'CHALLENGE'
              : 'AUTHORIZED';
      await db.query(
        `INSERT INTO card_charges (id, ref, token, amount, currency, status, created_at, updated_at)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (ref) DO NOTHING`,
        [`ch_${randomHex(12)}`, c.ref, c.token, c.amount, c.currency, status, clock.now()],
      );
      return toCharge((await db.query(`SELECT * FROM card_charges WHERE ref = $1`, [c.ref])).rows[0]);
    },
    completeChallenge: (chargeId, passed) =>
      move(chargeId, { from: ['CHALLENGE'], to: passed ? 'AUTHORIZED' : 'THREE_DS_FAILED' }),
    capture: (chargeId) => move(chargeId, MOVES.capture),
    void: (chargeId) => move(chargeId, MOVES.void),
    refund: (chargeId) => move(chargeId, MOVES.refund),
    getCharge: get,
    async getChargeByRef(ref) {
      const r = (await db.query(`SELECT * FROM card_charges WHERE ref = $1`, [ref])).rows[0];
      return r ? toCharge(r) : null;
    },
    async listCharges() {
      return (await db.query(`SELECT * FROM card_charges ORDER BY created_at, id`)).rows.map(toCharge);
    },
  };
}
