import countries from 'i18n-iso-countries';
import type { Acquirer } from '../../cards/acquirer.ts';
import { brandSupportedIn, cardCountryRow, type CardBrand } from '../../cards/support.ts';
import { checkCard, type CardInput } from '../../cards/validate.ts';
import type { ChainService } from '../../chain/service.ts';
import type { Withdrawal } from '../../chain/withdrawals.ts';
import type { KycService } from '../../kyc/service.ts';
import type { Clock } from '../../platform/clock.ts';
import {
  CONSENT_VERSION,
  createCodes,
  DUMMY_HASH,
  insertAccount,
  normalizeIdentifier,
  passwordProblem,
  payerIdOfUser,
  type IdentifierKind,
} from '../../accounts/people.ts';
import { hashPassword, verifyPassword, type SecretBox } from '../../platform/crypto.ts';
import type { Db, Queryable } from '../../platform/db/client.ts';
import { catchDomain, DomainError, err, ok, type Result } from '../../platform/errors.ts';
import type { IdGenerator } from '../../platform/ids.ts';
import type { Ledger } from '../../platform/ledger/service.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Mailer } from '../../platform/mail.ts';
import type { PriceSource } from '../../prices/service.ts';
import type { Catalog } from '../catalog.ts';
import type { KycLevel } from './limits.ts';
import { bindIdentity, noteIdentityConflict } from './identity.ts';
import type { ConnectOrders } from '../orders/service.ts';
import type { ConnectOrder } from '../orders/store.ts';
import type { PartnerService } from '../partners.ts';
import {
  createPurchaseMachine,
  FORM_APPLIES,
  lockedOf,
  NO_ACQUIRER_MESSAGE,
  WITHDRAW_REF,
  type FaultPoint,
  type OrderForm,
  type Step,
} from './purchase.ts';
import type { DbRow } from '../../platform/db/client.ts';

/**
 * The hosted buy flow's use cases (binance-connect.md §6): buy-flow accounts with one-time codes, KYC
 * submission and decision sync, cards, and the forms' state checks. Everything from Confirm on (charge, purchase,
 * withdrawal) is the step machine in purchase.ts. Every order status change goes through the Connect order
 * service's transition, so it shows in query-order-list and the partner webhook.
 */
const KYC_FILE_MAX_BYTES = 5 * 1024 * 1024;
export const DOCUMENT_TYPES = ['PASSPORT', 'ID_CARD', 'DRIVING_LICENSE'] as const;
export {
  AUTO_WITHDRAW_ATTEMPTS,
  AUTO_WITHDRAW_DELAYS_MS,
  AUTO_WITHDRAW_WINDOW_MS,
  CHALLENGE_TTL_MS,
  MAX_PAYMENT_ATTEMPTS,
  NO_ACQUIRER_MESSAGE,
  QUOTE_LOCK_MS,
  SANDBOX_PURCHASE_FAIL_AMOUNT,
  type LockedQuote,
  type Step,
} from './purchase.ts';

/** What the person is told when a form does not apply to the order as it stands. */
const FORM_REFUSALS: Record<OrderForm, string> = {
  kyc: 'Identity verification cannot be submitted for this order now.',
  address: 'Your address can be verified from an order that is waiting for payment.',
  card: 'Cards can be added while an order is waiting for payment.',
  quote: 'The price is locked while this order is being paid.',
  confirm: 'This order is already being paid or is closed.',
  send: 'This order can no longer be sent from your balance.',
  '3ds': 'There is no 3-D Secure check waiting for this order.',
  retry: 'The withdrawal is not waiting for a retry.',
  close: 'This order can no longer be cancelled.',
};

export interface BuyflowUser {
  id: string;
  identifier: string;
  kind: 'email' | 'phone';
  verified: boolean;
  consentAt: number | null;
  country: string | null;
  kycLevel: KycLevel;
  kycSource: string | null;
}

export interface SavedCard {
  id: string;
  brand: CardBrand;
  last4: string;
  expMonth: number;
  expYear: number;
  /** The errorCode of the last payment that failed on this card (cleared by a successful one). */
  lastFailure: string | null;
}

type AddressState =
  | { state: 'NOT_ELIGIBLE' }
  | { state: 'NEEDED' }
  | { state: 'REVIEW' }
  | { state: 'REJECTED'; reason: string }
  | { state: 'VERIFIED_PLUS' };

type KycState =
  | { state: 'NEEDED' }
  | { state: 'REVIEW'; expectTime: number | null }
  | { state: 'REJECTED'; reason: string }
  | { state: 'VERIFIED' }
  | { state: 'RESTRICTED' };

const toUser = (r: DbRow): BuyflowUser => ({
  id: String(r.id),
  identifier: r.identifier,
  kind: r.identifier_kind,
  verified: r.verified_at !== null,
  consentAt: r.consent_at === null ? null : Number(r.consent_at),
  country: r.country,
  kycLevel: r.kyc_level,
  kycSource: r.kyc_source,
});
const toCard = (r: DbRow): SavedCard => ({
  id: String(r.id),
  brand: r.brand,
  last4: r.last4,
  expMonth: r.exp_month,
  expYear: r.exp_year,
  lastFailure: r.last_failure ?? null,
});

/** Documents by magic bytes: JPEG, PNG or PDF only. */
function sniffDocument(bytes: Buffer): string | null {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])))
    return 'image/png';
  if (bytes.length >= 5 && bytes.subarray(0, 5).toString('latin1') === '%PDF-') return 'application/pdf';
  return null;
}

export function createBuyflowService(deps: {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  box: SecretBox;
  mailer: Mailer;
  ledger: Ledger;
  prices: PriceSource;
  catalog: Catalog;
  partners: PartnerService;
  orders: ConnectOrders;
  kyc: KycService;
  chain: ChainService;
  codeKey: string;
  brand?: string;
  /**
   * null in production until a real acquirer is configured: card payment is then refused, never sent to the sandbox.
   */
  acquirer: Acquirer | null;
  mode: 'sandbox' | 'production';
  logger?: Logger;
  /** Passed to the purchase machine: a runner's lease (tests shorten it) and crash points (tests only). */
  leaseMs?: number;
  faults?: { at(point: FaultPoint, orderId: string): void };
}) {
  const { db, clock, ids, box, mailer, partners, orders, kyc, chain, acquirer } = deps;
  const machine = createPurchaseMachine({
    db,
    clock,
    ids,
    ledger: deps.ledger,
    prices: deps.prices,
    catalog: deps.catalog,
    partners,
    orders,
    chain,
    acquirer,
    mode: deps.mode,
    logger: deps.logger,
    leaseMs: deps.leaseMs,
    faults: deps.faults,
    // An approved proof of address raises the limit at once, even before the worker applies the decision.
    levelOf: async (q, u) =>
      u.address_review_since !== null &&
      u.kyc_level === 'VERIFIED' &&
      (await applyAddress(q, u)).state === 'VERIFIED_PLUS'
        ? 'VERIFIED_PLUS'
        : u.kyc_level,
  });
  const brand = deps.brand ?? 'Rampart';
  const codes = createCodes({ clock, ids, mailer, codeKey: deps.codeKey, brand });
  const kycSubject = (userId: string) => `buyflow:${userId}`;
  const addressSubject = (userId: string) => `buyflow:${userId}:address`;

  const loadOrder = (orderId: string): Promise<ConnectOrder | null> => orders.read(db, orderId);

  async function getUser(id: string, q: Queryable = db): Promise<BuyflowUser | null> {
    if (!/^\d{1,19}$/.test(id)) return null;
    const r = (await q.query(`SELECT * FROM buyflow_users WHERE id = $1`, [id])).rows[0];
    return r ? toUser(r) : null;
  }

  /** Queues a fresh code through the mail port (people.ts: the one code mechanism of every account). */
  async function sendCode(userId: string): Promise<Result<{ sentTo: string }>> {
    return db.tx(async (q) => {
      const u = (await q.query(`SELECT id, identifier FROM buyflow_users WHERE id = $1 FOR UPDATE`, [userId])).rows[0];
      if (!u) return err('USER_NOT_FOUND');
      return codes.send(q, { id: String(u.id), identifier: u.identifier });
    });
  }

  /**
   * A new account (people.ts: with its payer profile when it is an e-mail, in one transaction), then its first code.
   * Any existing account with the identifier is refused, even an unverified one: its password was chosen before the
   * code, so letting a second sign-up replace it could hand the account to whoever typed last.
   */
  async function signup(input: {
    kind: string;
    identifier: string;
    password: string;
  }): Promise<Result<{ userId: string }>> {
    const id = normalizeIdentifier(input.kind, input.identifier);
    if (!id.ok) return id;
    const bad = passwordProblem(String(input.password ?? ''));
    if (bad) return err('WEAK_PASSWORD', bad);
    const hash = await hashPassword(String(input.password));
    const made = await db.tx((q) =>
      insertAccount(q, {
        userId: ids.next().toString(),
        kind: input.kind as IdentifierKind,
        identifier: id.value,
        passwordHash: hash,
        verifiedAt: null,
        now: clock.now(),
      }),
    );
    if (!made) return err('ACCOUNT_EXISTS', 'An account with this identifier exists. Log in instead.');
    const sent = await sendCode(made.userId);
    if (!sent.ok) return sent;
    return ok({ userId: made.userId });
  }

  async function login(input: {
    kind: string;
    identifier: string;
    password: string;
  }): Promise<Result<{ userId: string }>> {
    const id = normalizeIdentifier(input.kind, input.identifier);
    if (!id.ok) return id;
    const r = (await db.query(`SELECT id, password_hash FROM buyflow_users WHERE identifier = $1`, [id.value])).rows[0];
    // An account started at /signup has no password yet: it cannot log in.
    const good = await verifyPassword(String(input.password ?? ''), r?.password_hash ?? DUMMY_HASH);
    if (!r || !good) return err('BAD_CREDENTIALS', 'Wrong account or password.');
    const sent = await sendCode(String(r.id));
    if (!sent.ok && sent.code !== 'RESEND_TOO_SOON') return sent;
    return ok({ userId: String(r.id) });
  }

  /**
   * Checks the latest code; 5 wrong entries void it. Consent is required once and recorded with its version and time.
   */
  async function verifyCode(
    userId: string,
    code: string,
    consent: { terms: boolean; marketing: boolean },
  ): Promise<Result<BuyflowUser>> {
    const out = await db.tx(async (q) => {
      const u = (await q.query(`SELECT * FROM buyflow_users WHERE id = $1 FOR UPDATE`, [userId])).rows[0];
      if (!u) return err('USER_NOT_FOUND');
      if (u.consent_at === null && !consent.terms)
        return err('CONSENT_REQUIRED', `Please agree to ${brand}'s Terms of Use and Privacy Policy.`);
      // A password-less account (a sign-up started at /signup) is finished there, where the password is chosen.
      if (u.password_hash === null) return err('CODE_EXPIRED', 'The code has expired. Ask for a new one.');
      const checked = await codes.check(q, userId, code);
      if (!checked.ok) return checked;
      const now = clock.now();
      const r = await q.query(
        `UPDATE buyflow_users SET verified_at = COALESCE(verified_at, $2),
           consent_version = CASE WHEN consent_at IS NULL THEN $3 ELSE consent_version
           END, consent_at = COALESCE(consent_at, $2),
           marketing_opt_in = marketing_opt_in OR $4 WHERE id = $1 RETURNING *`,
        [userId, now, CONSENT_VERSION, consent.marketing],
      );
      return ok(toUser(r.rows[0]));
    });
    return out;
  }

  /** The account's payer profile (e-mail accounts): the buy-flow login also opens the checkout's session. */
  const payerOf = (userId: string) => payerIdOfUser(db, userId);

  /** The user's available balance of `asset` in their Rampart account (send primary shows it; '0' when none). */
  async function balanceOf(userId: string, asset: string): Promise<string> {
    const payerId = await payerOf(userId);
    if (!payerId) return '0';
    return (await deps.ledger.balance(db, { ownerType: 'payer', ownerId: payerId, asset })).available;
  }

  async function orderByToken(token: string) {
    const o = await orders.findByToken(token);
    if (!o) return null;
    const partner = await partners.get(o.partnerCode);
    if (!partner) return null;
    const bf = (await db.query(`SELECT * FROM buyflow_orders WHERE order_id = $1`, [o.orderId])).rows[0] ?? null;
    return { order: o, partner, bf };
  }

  /**
   * The user whose session opened this link: attached to the order once (another user cannot take it over) and bound
   * to merchantUserId.
   */
  async function attach(order: ConnectOrder, userId: string): Promise<Result<null>> {
    const now = clock.now();
    await db.query(
      `INSERT INTO buyflow_orders (order_id, user_id, created_at) VALUES ($1, $2, $3) ON CONFLICT (order_id)
        DO NOTHING`,
      [order.orderId, userId, now],
    );
    const owner2 = (await db.query(`SELECT user_id FROM buyflow_orders WHERE order_id = $1`, [order.orderId])).rows[0];
    if (String(owner2.user_id) !== userId)
      return err('ORDER_OF_ANOTHER_USER', 'This order belongs to another account.');
    // Generation 2 tells the partner which (hashed) user this is, from now on (§8 openUserId).
    if (order.openUserId === null) await orders.identify(db, order.orderId, userId);
    if (order.merchantUserId) {
      await db.query(
        `INSERT INTO buyflow_bindings (partner_code, merchant_user_id, user_id, created_at) VALUES ($1, $2, $3, $4)
          ON CONFLICT DO NOTHING`,
        [order.partnerCode, order.merchantUserId, userId, now],
      );
    }
    return ok(null);
  }

  async function boundUser(partnerCode: string, merchantUserId: string | null): Promise<string | null> {
    if (!merchantUserId) return null;
    const r = (
      await db.query(`SELECT user_id FROM buyflow_bindings WHERE partner_code = $1 AND merchant_user_id = $2`, [
        partnerCode,
        merchantUserId,
      ])
    ).rows[0];
    return r ? String(r.user_id) : null;
  }

  /**
   * Where the user stands with KYC for this order. Facilitated KYC: a user shared and passed by a broker linked to
   * the partner is VERIFIED without the KYC pages, if that shared record binds this account (identity.ts: one account
   * per record, the first); any other account is noted for the operator and does its own KYC. A buy-flow record's
   * decision is applied here and by the worker.
   */
  async function kycState(user: BuyflowUser, order: ConnectOrder): Promise<KycState> {
    if (user.kycLevel !== 'NONE') return { state: 'VERIFIED' };
    if (order.merchantUserId) {
      const merchantUserId = order.merchantUserId;
      const shared = await kyc.passedSharedUser(order.partnerCode, merchantUserId);
      const bound =
        shared &&
        (await db.tx(async (q): Promise<boolean | 'RESTRICTED'> => {
          const u = (await q.query(`SELECT kyc_level FROM buyflow_users WHERE id = $1 FOR UPDATE`, [user.id])).rows[0];
          if (u.kyc_level !== 'NONE') return true;
          const now = clock.now();
          const { residence, nationality, idCountry } = shared.countries;
          // The countries the broker's record attests, not the person's own declaration, decide the region (and the
          // card table).
          if (orders.restrictedCountryOf([residence, nationality, idCountry])) {
            if (order.subStatus === 'CREATED' || order.subStatus === 'KYC_REVIEW')
              await orders.transition(q, order.orderId, order.subStatus, 'FAILED', { errorCode: 'REGION_RESTRICTED' });
            return 'RESTRICTED';
          }
          if (!(await bindIdentity(q, shared.kycUserId, user.id, 'shared', now))) {
            await noteIdentityConflict(q, {
              kycRecordId: shared.kycUserId,
              userId: user.id,
              partnerCode: order.partnerCode,
              merchantUserId,
              now,
            });
            return false;
          }
          await q.query(
            `UPDATE buyflow_users SET kyc_level = 'VERIFIED', kyc_source = 'shared', kyc_record_id = $2, country = $3,
              nationality = $4, id_country = $5 WHERE id = $1`,
            [user.id, shared.kycUserId, residence, nationality, idCountry],
          );
          return true;
        }));
      if (bound === 'RESTRICTED') return { state: 'RESTRICTED' };
      if (bound) return { state: 'VERIFIED' };
    }
    return syncKyc(user.id);
  }

  async function syncKyc(userId: string): Promise<KycState> {
    return db.tx(async (q) => {
      const u = (await q.query(`SELECT * FROM buyflow_users WHERE id = $1 FOR UPDATE`, [userId])).rows[0];
      if (u.kyc_level !== 'NONE') return { state: 'VERIFIED' } as KycState;
      const s = await kyc.buyflowStatus(q, kycSubject(userId));
      if (!s) return { state: 'NEEDED' } as KycState;
      // One read across owners (this user's orders waiting for KYC), inside the transaction that moves them on.
      const waiting = (
        await q.query(
          `SELECT b.order_id FROM buyflow_orders b JOIN connect_orders c ON c.order_id = b.order_id WHERE b.user_id = $1
            AND c.sub_status = 'KYC_REVIEW'`,
          [userId],
        )
      ).rows;
      if (s.status === 'PASS') {
        await bindIdentity(q, s.recordId, userId, 'buyflow', clock.now()); // the account's own record: never another's
        await q.query(
          `UPDATE buyflow_users SET kyc_level = 'VERIFIED', kyc_source = 'buyflow', kyc_record_id = $2 WHERE id = $1`,
          [userId, s.recordId],
        );
        await mailer.send(q, {
          to: u.identifier,
          subject: `${brand}: identity verified`,
          text: `Your ${brand} intermediate verification is complete. You can now buy crypto.`,
        });
        return { state: 'VERIFIED' } as KycState;
      }
      if (s.status === 'REJECT') {
        for (const w of waiting) {
          // Gen-1 lets the user submit again on the same order; a gen-2 order fails (0 → 99, v2 §5.3).
          const gen2 = (await orders.read(q, w.order_id))?.generation === 2;
          await orders.transition(q, w.order_id, 'KYC_REVIEW', gen2 ? 'FAILED' : 'CREATED', {
            errorCode: 'KYC_REJECTED',
          });
        }
        return { state: 'REJECTED', reason: s.failReason ?? 'Rejected' } as KycState;
      }
      return { state: 'REVIEW', expectTime: s.expectTime } as KycState;
    });
  }

  /**
   * The KYC form. Residence, nationality (left empty: the same as residence) and ID country are checked against
   * CONNECT_RESTRICTED_COUNTRIES first: a restricted one is answered REGION_RESTRICTED, nothing goes to KYC, and the
   * order fails with that code (CREATED → FAILED) in the transaction that records the declared countries.
   */
  async function submitKyc(
    user: BuyflowUser,
    order: ConnectOrder,
    input: {
      country: string;
      idCountry: string;
      nationality?: string;
      documentType: string;
      firstName: string;
      lastName: string;
      dateOfBirth: string;
      files: { field: 'front' | 'back' | 'selfie'; bytes: Buffer }[];
    },
  ): Promise<Result<null>> {
    const country = String(input.country ?? '').toUpperCase();
    if (!/^[A-Z]{2}$/.test(country)) return err('INVALID_COUNTRY', 'Select your country of residence.');
    const idCountry = String(input.idCountry ?? '').toUpperCase();
    if (!/^[A-Z]{2}$/.test(idCountry)) return err('INVALID_COUNTRY', 'Select the country of issue of your ID.');
    const nationality =
      input.nationality === undefined || input.nationality === null || input.nationality === ''
        ? country
        : String(input.nationality).toUpperCase();
    if (!/^[A-Z]{2}$/.test(nationality)) return err('INVALID_NATIONALITY', 'Select your nationality.');
    // The order must be this user's: a restricted answer fails it, and the countries are recorded on the user.
    // Locks the user, then the order (the order confirm takes them in, so the two cannot deadlock); a verified user has
    // nothing to submit.
    const refusal = async (q: Queryable): Promise<Result<null> | null> => {
      const u = (await q.query(`SELECT kyc_level FROM buyflow_users WHERE id = $1 FOR UPDATE`, [user.id])).rows[0];
      if (!u || u.kyc_level !== 'NONE') return err('ALREADY_VERIFIED', 'Your identity is already verified.');
      const mine =
        (
          await q.query(`SELECT 1 FROM buyflow_orders WHERE order_id = $1 AND user_id = $2 FOR UPDATE`, [
            order.orderId,
            user.id,
          ])
        ).rows.length === 1;
      return mine ? null : err('ORDER_OF_ANOTHER_USER', 'This order belongs to another account.');
    };
    const declare = (q: Queryable) =>
      q.query(`UPDATE buyflow_users SET country = $2, nationality = $3, id_country = $4 WHERE id = $1`, [
        user.id,
        country,
        nationality,
        idCountry,
      ]);
    const restricted = orders.restrictedCountryOf([country, nationality, idCountry]);
    if (restricted) {
      return db.tx(async (q): Promise<Result<null>> => {
        const refused = await refusal(q);
        if (refused) return refused;
        await declare(q);
        await orders.transition(q, order.orderId, 'CREATED', 'FAILED', { errorCode: 'REGION_RESTRICTED' });
        const name = countries.getName(restricted, 'en') ?? restricted;
        return err(
          'REGION_RESTRICTED',
          `${brand} is not available to residents or nationals of ${name}, or with an ID issued there. This order ` +
            `has been cancelled and no verification was submitted.`,
        );
      });
    }
    if (country !== idCountry)
      return err('COUNTRY_MISMATCH', 'Your country of residence must match the country of your ID.');
    if (!(DOCUMENT_TYPES as readonly string[]).includes(input.documentType))
      return err('INVALID_DOCUMENT_TYPE', 'Choose a document type.');
    const firstName = String(input.firstName ?? '').trim();
    const lastName = String(input.lastName ?? '').trim();
    if (!firstName || !lastName || firstName.length > 64 || lastName.length > 64)
      return err('INVALID_NAME', 'Enter your first and last name as on your ID.');
    if (!/^\d{4}-\d{2}-\d{2}$/.test(String(input.dateOfBirth ?? '')))
      return err('INVALID_DOB', 'Enter your date of birth.');
    const needed = input.documentType === 'PASSPORT' ? ['front', 'selfie'] : ['front', 'back', 'selfie'];
    const files: { field: string; contentType: string; bytes: Buffer }[] = [];
    for (const field of needed) {
      const f = input.files.find((x) => x.field === field);
      if (!f || f.bytes.length === 0)
        return err('MISSING_FILE', `Upload the ${field === 'selfie' ? 'selfie' : `${field} of the document`}.`);
      if (f.bytes.length > KYC_FILE_MAX_BYTES) return err('FILE_TOO_LARGE', `The ${field} file is larger than 5 MB.`);
      const type = sniffDocument(f.bytes);
      if (!type) return err('UNSUPPORTED_FILE', `The ${field} file must be a JPEG, PNG or PDF.`);
      files.push({ field, contentType: type, bytes: f.bytes });
    }
    const submitted = await catchDomain(() =>
      db.tx(async (q): Promise<Result<null>> => {
        const refused = await refusal(q);
        if (refused) return refused;
        const r = await kyc.submitBuyflow(q, kycSubject(user.id), {
          country,
          documentType: input.documentType,
          basic: { firstName, lastName, dateOfBirth: input.dateOfBirth },
          files,
        });
        if (!r.ok) return r;
        await declare(q);
        // Only an order waiting for KYC goes to review; anything else rolls the submission back.
        if (!(await orders.transition(q, order.orderId, 'CREATED', 'KYC_REVIEW', { errorCode: null })))
          throw new DomainError('ORDER_NOT_OPEN', 'This order is not waiting for identity verification.');
        return ok(null);
      }),
    );
    return submitted.ok ? submitted.value : submitted;
  }

  /**
   * Applies a proof-of-address decision to a locked user row: PASS raises VERIFIED to VERIFIED_PLUS; REJECT keeps
   * VERIFIED.
   */
  async function applyAddress(q: Queryable, u: DbRow): Promise<AddressState> {
    if (u.kyc_level === 'NONE') return { state: 'NOT_ELIGIBLE' };
    if (u.kyc_level === 'VERIFIED_PLUS') return { state: 'VERIFIED_PLUS' };
    const s = await kyc.buyflowStatus(q, addressSubject(String(u.id)));
    if (!s) return { state: 'NEEDED' };
    if (s.status === 'PASS') {
      const up = await q.query(
        `UPDATE buyflow_users SET kyc_level = 'VERIFIED_PLUS', address_review_since = NULL WHERE id = $1
          AND kyc_level = 'VERIFIED'`,
        [u.id],
      );
      if (up.rowCount === 1) {
        await mailer.send(q, {
          to: u.identifier,
          subject: `${brand}: address verified`,
          text: `Your ${brand} advanced verification is complete. Your daily limit is now 200,000 USD.`,
        });
      }
      return { state: 'VERIFIED_PLUS' };
    }
    if (s.status === 'REJECT') {
      await q.query(`UPDATE buyflow_users SET address_review_since = NULL WHERE id = $1`, [u.id]);
      return { state: 'REJECTED', reason: s.failReason ?? 'Rejected' };
    }
    return { state: 'REVIEW' };
  }

  async function syncAddress(userId: string): Promise<AddressState> {
    return db.tx(async (q) => {
      const u = (await q.query(`SELECT * FROM buyflow_users WHERE id = $1 FOR UPDATE`, [userId])).rows[0];
      return u ? applyAddress(q, u) : ({ state: 'NOT_ELIGIBLE' } as AddressState);
    });
  }

  /** The proof-of-address step after VERIFIED: address and one document (sealed), reviewed as its own KYC check. */
  async function submitProofOfAddress(
    userId: string,
    input: { addressLine: string; city: string; postalCode: string; file: Buffer | null },
  ): Promise<Result<null>> {
    const addressLine = String(input.addressLine ?? '').trim();
    const city = String(input.city ?? '').trim();
    const postalCode = String(input.postalCode ?? '').trim();
    if (!addressLine || !city || addressLine.length > 200 || city.length > 100 || postalCode.length > 20)
      return err('INVALID_ADDRESS', 'Enter your residential address and city.');
    if (!input.file || input.file.length === 0)
      return err('MISSING_FILE', 'Upload a proof of address (utility bill or bank statement of the last 3 months).');
    if (input.file.length > KYC_FILE_MAX_BYTES) return err('FILE_TOO_LARGE', 'The file is larger than 5 MB.');
    const contentType = sniffDocument(input.file);
    if (!contentType) return err('UNSUPPORTED_FILE', 'The file must be a JPEG, PNG or PDF.');
    const file = input.file;
    return db.tx(async (q): Promise<Result<null>> => {
      const u = (await q.query(`SELECT * FROM buyflow_users WHERE id = $1 FOR UPDATE`, [userId])).rows[0];
      if (!u) return err('USER_NOT_FOUND');
      if (u.kyc_level === 'NONE') return err('KYC_REQUIRED', 'Complete identity verification first.');
      if (u.kyc_level === 'VERIFIED_PLUS') return err('ALREADY_VERIFIED_PLUS', 'Your address is already verified.');
      const r = await kyc.submitBuyflowAddress(q, addressSubject(userId), {
        address: { addressLine, city, postalCode, country: u.country ?? '' },
        file: { contentType, bytes: file },
      });
      if (!r.ok)
        return err(
          r.code,
          r.code === 'KYC_IN_REVIEW'
            ? 'Your proof of address is already under review.'
            : 'Your address is already verified.',
        );
      await q.query(`UPDATE buyflow_users SET address_review_since = $2 WHERE id = $1`, [userId, clock.now()]);
      return ok(null);
    });
  }

  async function cards(userId: string): Promise<SavedCard[]> {
    // Cards that worked first, so the one preselected at confirm is not the one that was just declined.
    return (
      await db.query(`SELECT * FROM buyflow_cards WHERE user_id = $1 ORDER BY (last_failure IS NOT NULL), id DESC`, [
        userId,
      ])
    ).rows.map(toCard);
  }

  /** PAN and CVV go only to the acquirer; the platform keeps its token, brand, last 4 and expiry. */
  async function addCard(user: BuyflowUser, input: CardInput): Promise<Result<SavedCard>> {
    if (!acquirer) return err('CARD_PAYMENTS_UNAVAILABLE', NO_ACQUIRER_MESSAGE);
    const c = checkCard(input, clock.now());
    if (!c.ok) return c;
    const country = user.country;
    if (!country || !cardCountryRow(country) || !brandSupportedIn(country, c.value.brand)) {
      return err(
        'CARD_NOT_SUPPORTED',
        `${c.value.brand === 'VISA' ? 'Visa' : 'Mastercard'} cards are not supported for your country of residence.`,
      );
    }
    const t = await acquirer.tokenize(c.value);
    if (t.issuerCountry && !brandSupportedIn(t.issuerCountry, t.brand))
      return err('CARD_NOT_SUPPORTED', 'Cards issued in this country are not supported.');
    // The same card added again replaces its saved entry (new token and expiry) instead of listing it twice.
    const r = await db.query(
      `INSERT INTO buyflow_cards (id, user_id, acquirer_token, brand, last4, exp_month, exp_year, name_sealed,
        fingerprint, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (user_id, fingerprint) WHERE fingerprint IS NOT NULL
       DO UPDATE SET acquirer_token = EXCLUDED.acquirer_token, exp_month = EXCLUDED.exp_month,
       exp_year = EXCLUDED.exp_year, name_sealed = EXCLUDED.name_sealed
       RETURNING *`,
      [
        ids.next(),
        user.id,
        t.token,
        t.brand,
        t.last4,
        c.value.expMonth,
        c.value.expYear,
        box.seal(c.value.name),
        t.fingerprint,
        clock.now(),
      ],
    );
    return ok(toCard(r.rows[0]));
  }

  /** Worker tick: due steps of confirmed orders (the purchase machine), KYC and proof-of-address decisions. */
  async function runOnce(): Promise<number> {
    let n = await machine.runOnce();
    // An approved user's order stays KYC_REVIEW until confirm (KYC_REVIEW → PAYMENT_PROCESSING), so only users still
    // unverified are polled, and only a decision applied now counts as work: counting a settled user every tick made
    // startLoop re-run at once forever, and with PGlite (synchronous, microtasks only) that starved every request.
    // One read across owners (buy-flow users with a Connect order waiting for KYC), instead of one per user.
    const reviewing = (
      await db.query(
        `SELECT DISTINCT b.user_id FROM buyflow_orders b JOIN connect_orders c ON c.order_id = b.order_id
          JOIN buyflow_users u ON u.id = b.user_id
       WHERE c.sub_status = 'KYC_REVIEW' AND u.kyc_level = 'NONE' LIMIT 100`,
      )
    ).rows;
    for (const r of reviewing) {
      const s = await syncKyc(String(r.user_id));
      if (s.state === 'VERIFIED' || s.state === 'REJECTED') n++;
    }
    const addresses = (
      await db.query(
        `SELECT id FROM buyflow_users WHERE address_review_since IS NOT NULL AND kyc_level = 'VERIFIED' LIMIT 100`,
      )
    ).rows;
    for (const r of addresses) {
      const s = await syncAddress(String(r.id));
      if (s.state === 'VERIFIED_PLUS' || s.state === 'REJECTED') n++;
    }
    return n;
  }

  async function withdrawalOf(orderId: string): Promise<Withdrawal | null> {
    return chain.withdrawals.getByRef(WITHDRAW_REF + orderId);
  }

  /**
   * An order whole, for the operator: the published order, its step and state history, the locked quote, the card
   * charge of every payment attempt with the acquirer's state, its ledger transfers, the withdrawal and its
   * transaction.
   */
  async function operatorView(orderId: string) {
    const order = await loadOrder(orderId);
    if (!order) return null;
    const bf = (await db.query(`SELECT * FROM buyflow_orders WHERE order_id = $1`, [orderId])).rows[0] ?? null;
    const attempts = bf ? Number(bf.payment_attempts) : 0;
    const charges = acquirer
      ? (
          await Promise.all(Array.from({ length: attempts }, (_, i) => acquirer.getChargeByRef(`${orderId}:${i + 1}`)))
        ).filter((c) => c !== null)
      : [];
    const w = await withdrawalOf(orderId);
    const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
    return {
      order,
      buyflow: bf && {
        userId: String(bf.user_id),
        step: bf.step as Step,
        stepDueAt: num(bf.step_due_at),
        paymentAttempts: attempts,
        cardId: bf.card_id === null ? null : String(bf.card_id),
        confirmedAt: num(bf.confirmed_at),
        usdAmount: bf.usd_amount === null ? null : String(bf.usd_amount),
        challengeExpiresAt: num(bf.challenge_expires_at),
        failureCode: bf.failure_code,
        withdrawAutoAttempts: bf.withdraw_auto_attempts,
        leasedUntil: num(bf.lease_until) || null,
      },
      lockedQuote: lockedOf(bf),
      history: await machine.history(orderId),
      cardCharges: charges,
      ledgerTransfers: await deps.ledger.transfers(db, { refs: [orderId, ...(w ? [w.id] : [])] }),
      withdrawal: w,
      onChainTransaction: w?.txHash
        ? {
            network: w.network,
            hash: w.txHash,
            confirmations: w.confirmations,
            confirmationsRequired: w.confirmationsRequired,
            simulated: w.simulated,
          }
        : null,
    };
  }

  /**
   * Whether a form of the hosted pages applies to this order for this user now (purchase.ts FORM_APPLIES): the
   * order must be the user's, and in a state where the form means something. The services check again in the
   * transaction that acts; this gives the person the clear refusal.
   */
  async function formApplies(order: ConnectOrder, userId: string, form: OrderForm): Promise<Result<null>> {
    const bf = (await db.query(`SELECT user_id, step FROM buyflow_orders WHERE order_id = $1`, [order.orderId]))
      .rows[0];
    if (!bf || String(bf.user_id) !== userId)
      return err('ORDER_OF_ANOTHER_USER', 'This order belongs to another account.');
    if (
      FORM_APPLIES[form]({
        step: bf.step,
        sub: order.subStatus,
        expired: order.mainStatus === 'INIT' && order.expiredTime <= clock.now(),
        generation: order.generation,
      })
    )
      return ok(null);
    return err('FORM_NOT_APPLICABLE', FORM_REFUSALS[form]);
  }

  return {
    getUser,
    sendCode,
    signup,
    login,
    verifyCode,
    payerOf,
    balanceOf,
    orderByToken,
    attach,
    boundUser,
    kycState,
    syncKyc,
    submitKyc,
    cards,
    addCard,
    formApplies,
    lockQuote: machine.lockQuote,
    confirm: machine.confirm,
    send: machine.send,
    completeChallenge: machine.completeChallenge,
    retryWithdrawal: machine.retryWithdrawal,
    close: machine.close,
    history: machine.history,
    step: async (orderId: string) => (await machine.load(orderId))?.step ?? null,
    lockedOf,
    loadOrder,
    runOnce,
    withdrawalOf,
    brand,
    operatorView,
    submitProofOfAddress,
    syncAddress,
    cardPaymentsAvailable: acquirer !== null,
    outboxHandlers: machine.outboxHandlers,
    openAuthorizations: machine.openAuthorizations,
  };
}
export type BuyflowService = ReturnType<typeof createBuyflowService>;
