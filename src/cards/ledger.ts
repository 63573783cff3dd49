import type { Queryable } from '../platform/db/client.ts';
import { platformAccount, type AccountRef, type Ledger, type TransferRecord } from '../platform/ledger/service.ts';
import { Decimal } from '../platform/money.ts';
import type { Acquirer, Charge, ChargeStatus } from './acquirer.ts';

/**
 * Card money on the ledger. `card_clearing` stands for what the acquirer owes the platform:
 *
 * | acquirer event | ledger entry (fiat)                                            |
 * | authorization  | hold `card:auth:<chargeId>` card_clearing → payer's account    |
 * | capture        | that hold posted                                                |
 * | void           | that hold voided                                                |
 * | refund         | transfer `card:refund:<chargeId>` payer's account → card_clearing |
 *
 * Each is written by the caller in the same transaction as the state change that follows the acquirer's answer,
 * and `reconcileCardCharges` checks every charge the acquirer reports against these entries.
 */
const CARD_CLEARING = 'card_clearing';
const CARD_AUTH_KIND = 'card_authorization';
const CARD_REFUND_KIND = 'card_refund';
const authId = (chargeId: string) => `card:auth:${chargeId}`;
const refundId = (chargeId: string) => `card:refund:${chargeId}`;

interface CardEntry {
  charge: Charge;
  /** The account the card money reaches (the buyer's fiat account). */
  payer: Omit<AccountRef, 'asset'>;
  /** The business object the movement belongs to (an order id), for statements and the operator's views. */
  ref: string;
}

export const cardLedger = (ledger: Ledger) => ({
  authorized: (q: Queryable, e: CardEntry) =>
    ledger.hold(q, {
      id: authId(e.charge.chargeId),
      debit: platformAccount(CARD_CLEARING, e.charge.currency),
      credit: { ...e.payer, asset: e.charge.currency },
      amount: e.charge.amount,
      kind: CARD_AUTH_KIND,
      ref: e.ref,
    }),
  captured: (q: Queryable, chargeId: string) => ledger.postHold(q, authId(chargeId)),
  /** A challenge that expired unanswered was never authorized: there is no hold to void then. */
  voided: async (q: Queryable, chargeId: string) => {
    const [hold] = await ledger.transfers(q, { ids: [authId(chargeId)] });
    if (hold?.status === 'PENDING') await ledger.voidHold(q, authId(chargeId));
  },
  refunded: (q: Queryable, e: CardEntry) =>
    ledger.transfer(q, {
      id: refundId(e.charge.chargeId),
      debit: { ...e.payer, asset: e.charge.currency },
      credit: platformAccount(CARD_CLEARING, e.charge.currency),
      amount: e.charge.amount,
      kind: CARD_REFUND_KIND,
      ref: e.ref,
    }),
});

/**
 * What the ledger must hold for a charge in each acquirer state: the authorization hold's status (null: none), and
 * whether a refund is posted.
 */
const EXPECTED: Record<ChargeStatus, { auth: (TransferRecord['status'] | null)[]; refund: boolean }> = {
  CHALLENGE: { auth: [null], refund: false },
  DECLINED: { auth: [null], refund: false },
  INSUFFICIENT_FUNDS: { auth: [null], refund: false },
  THREE_DS_FAILED: { auth: [null], refund: false },
  AUTHORIZED: { auth: ['PENDING'], refund: false },
  CAPTURED: { auth: ['POSTED'], refund: false },
  // A challenge that expired is voided before it was ever authorized: no hold to void.
  VOIDED: { auth: ['VOIDED', null], refund: false },
  REFUNDED: { auth: ['POSTED'], refund: true },
};

/** Compares every acquirer charge with its ledger entries; also reports card entries that no charge explains. */
/**
 * Before migration 0014 the buy flow charged and captured in one go and booked `bf:charge:<id>` (card_settlement →
 * user)
 * and, for a reversal, `bf:reverse:<id>`: those stand for a posted authorization and a refund.
 */
const LEGACY = {
  auth: (id: string) => `bf:charge:${id}`,
  refund: (id: string) => `bf:reverse:${id}`,
  kinds: ['connect_card_charge', 'connect_card_refund'],
};

export async function reconcileCardCharges(
  q: Queryable,
  acquirer: Acquirer,
  ledger: Ledger,
): Promise<{ cardCharges: number; problems: string[] }> {
  const charges = await acquirer.listCharges();
  const entries = await ledger.transfers(q, { kinds: [CARD_AUTH_KIND, CARD_REFUND_KIND, ...LEGACY.kinds] });
  const byId = new Map(entries.map((t) => [t.id, t]));
  const problems: string[] = [];
  const take = (...ids: string[]) => {
    const found = ids.map((id) => byId.get(id)).find((t) => t !== undefined) ?? null;
    for (const id of ids) byId.delete(id);
    return found;
  };
  for (const c of charges) {
    const auth = take(authId(c.chargeId), LEGACY.auth(c.chargeId));
    const refund = take(refundId(c.chargeId), LEGACY.refund(c.chargeId));
    const want = EXPECTED[c.status];
    if (!want) {
      problems.push(`card charge ${c.chargeId}: unknown acquirer state ${c.status}`);
      continue;
    }
    if (!want.auth.includes(auth?.status ?? null)) {
      problems.push(
        `card charge ${c.chargeId} is ${c.status} at the acquirer, but its authorization ` +
          `entry is ${auth ? auth.status : 'missing'}`,
      );
    }
    if (want.refund !== (refund?.status === 'POSTED')) {
      problems.push(
        `card charge ${c.chargeId} is ${c.status} at the acquirer, but the ledger ${refund ? 'has' : 'has no'} ` +
          `refund entry`,
      );
    }
    for (const t of [auth, refund]) {
      if (t && (!new Decimal(t.amount).eq(c.amount) || t.asset !== c.currency)) {
        problems.push(
          `card charge ${c.chargeId} of ${c.amount} ${c.currency}: ledger entry ${t.id} is ${t.amount} ${t.asset}`,
        );
      }
    }
  }
  for (const t of byId.values()) problems.push(`ledger entry ${t.id} (${t.kind}) has no charge at the acquirer`);
  return { cardCharges: charges.length, problems };
}
