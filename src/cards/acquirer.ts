import type { Clock } from '../platform/clock.ts';
import { randomHex } from '../platform/crypto.ts';
import type { Db } from '../platform/db/client.ts';
import { Decimal } from '../platform/money.ts';
import type { CheckedCard } from './validate.ts';
import type { CardBrand } from './support.ts';

/**
 * The card acquirer port. Only `tokenize` ever sees the PAN and CVV; everything after works on the token.
 * Charges are idempotent by the caller's ref: the same ref returns the same charge and never charges twice.
 */
export type ChargeStatus = 'APPROVED' | 'DECLINED' | 'INSUFFICIENT_FUNDS' | 'CHALLENGE' | 'THREE_DS_FAILED' | 'REFUNDED';

export interface TokenizedCard {
  token: string;
  brand: CardBrand;
  last4: string;
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
  charge(c: { token: string; amount: string; currency: string; ref: string }): Promise<Charge>;
  /** The cardholder's answer to a 3-D Secure challenge. */
  completeChallenge(chargeId: string, passed: boolean): Promise<Charge | null>;
  refund(chargeId: string): Promise<Charge | null>;
  getCharge(chargeId: string): Promise<Charge | null>;
}

/** Sandbox test cards (platform.md), plus a 3-D Secure challenge card and one issued in an unsupported country. */
export const SANDBOX_CARDS: Record<string, { behavior: 'approve' | 'decline' | 'insufficient' | 'challenge'; issuerCountry: string | null }> = {
  '4242424242424242': { behavior: 'approve', issuerCountry: null },
  '5555555555554444': { behavior: 'approve', issuerCountry: null },
  '4000000000000002': { behavior: 'decline', issuerCountry: null },
  '4000000000009995': { behavior: 'insufficient', issuerCountry: null },
  '4000000000003220': { behavior: 'challenge', issuerCountry: null },
  '4000006430000009': { behavior: 'approve', issuerCountry: 'RU' },
};

const toCharge = (r: any): Charge => ({ chargeId: r.id, ref: r.ref, status: r.status, amount: new Decimal(r.amount).toFixed(), currency: r.currency });

/**
 * Sandbox acquirer: keeps only the token with the test card's behaviour (never the PAN). Unknown valid cards are approved.
 */
export function createSandboxAcquirer(deps: { db: Db; clock: Clock }): Acquirer {
  const { db, clock } = deps;
  const get = async (id: string) => {
    const r = (await db.query(`SELECT * FROM card_charges WHERE id = $1`, [id])).rows[0];
    return r ? toCharge(r) : null;
  };
  return {
    async tokenize(card) {
      const t = SANDBOX_CARDS[card.pan] ?? { behavior: 'approve', issuerCountry: null };
      const token = `tok_${randomHex(16)}`;
      await db.query(`INSERT INTO card_tokens (token, behavior, brand, last4, issuer_country, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
        [token, t.behavior, card.brand, card.pan.slice(-4), t.issuerCountry, clock.now()]);
      return { token, brand: card.brand, last4: card.pan.slice(-4), issuerCountry: t.issuerCountry };
    },
    async charge(c) {
      const tok = (await db.query(`SELECT behavior FROM card_tokens WHERE token = $1`, [c.token])).rows[0];
      const status: ChargeStatus = !tok ? 'DECLINED'
        : tok.behavior === 'decline' ? 'DECLINED' : tok.behavior === 'insufficient' ? 'INSUFFICIENT_FUNDS' : tok.behavior === 'challenge' ? 'CHALLENGE' : 'APPROVED';
      await db.query(
        `INSERT INTO card_charges (id, ref, token, amount, currency, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (ref) DO NOTHING`,
        [`ch_${randomHex(12)}`, c.ref, c.token, c.amount, c.currency, status, clock.now()],
      );
      return toCharge((await db.query(`SELECT * FROM card_charges WHERE ref = $1`, [c.ref])).rows[0]);
    },
    async completeChallenge(chargeId, passed) {
      await db.query(`UPDATE card_charges SET status = $2, updated_at = $3 WHERE id = $1 AND status = 'CHALLENGE'`, [chargeId, passed ? 'APPROVED' : 'THREE_DS_FAILED', clock.now()]);
      return get(chargeId);
    },
    async refund(chargeId) {
      await db.query(`UPDATE card_charges SET status = 'REFUNDED', updated_at = $2 WHERE id = $1 AND status = 'APPROVED'`, [chargeId, clock.now()]);
      return get(chargeId);
    },
    getCharge: get,
  };
}
