import { randomInt } from 'node:crypto';
import type { Acquirer, Charge } from '../../cards/acquirer.ts';
import { brandSupportedIn, cardCountryRow, type CardBrand } from '../../cards/support.ts';
import { checkCard, type CardInput } from '../../cards/validate.ts';
import type { ChainService } from '../../chain/service.ts';
import type { Withdrawal } from '../../chain/withdrawals.ts';
import type { KycService } from '../../kyc/service.ts';
import type { Clock } from '../../platform/clock.ts';
import { hashPassword, hmacSha256Hex, safeEqual, verifyPassword, type SecretBox } from '../../platform/crypto.ts';
import type { Db, Queryable } from '../../platform/db/client.ts';
import { DomainError, err, ok, type Result } from '../../platform/errors.ts';
import type { IdGenerator } from '../../platform/ids.ts';
import { platformAccount, type Ledger } from '../../platform/ledger/service.ts';
import type { Mailer } from '../../platform/mail.ts';
import { Decimal } from '../../platform/money.ts';
import type { PriceSource } from '../../prices/service.ts';
import type { Catalog } from '../catalog.ts';
import { checkLimitLocked, type KycLevel } from '../limits.ts';
import type { ConnectOrders } from '../orders/service.ts';
import { toOrder, type ConnectOrder, type SubStatus } from '../orders/store.ts';
import type { PartnerService } from '../partners.ts';

/**
 * The hosted buy flow's use cases (binance-connect.md §6): buy-flow accounts with one-time codes, KYC
 * submission and decision sync, cards, the locked quote, confirm (limit check, card charge, purchase,
 * withdrawal) and the withdrawal retry. Every order status change goes through the Connect order service's
 * transition, so it shows in query-order-list and the partner webhook.
 */
export const CODE_TTL_MS = 10 * 60_000;
export const CODE_MAX_TRIES = 5;
export const RESEND_AFTER_MS = 59_000;
export const MAX_SENDS_PER_HOUR = 5;
export const QUOTE_LOCK_MS = 59_000;
export const MAX_PAYMENT_ATTEMPTS = 3;
export const CONSENT_VERSION = 'terms-2024-01+privacy-2024-01';
export const KYC_FILE_MAX_BYTES = 5 * 1024 * 1024;
export const DOCUMENT_TYPES = ['PASSPORT', 'ID_CARD', 'DRIVING_LICENSE'] as const;
const WITHDRAW_REF = 'connect:';
/** Automatic withdrawal attempts (spec §6.4): 3 within 30 min, then WITHDRAW_FAILED and the manual retry. */
export const AUTO_WITHDRAW_ATTEMPTS = 3;
export const AUTO_WITHDRAW_WINDOW_MS = 30 * 60_000;
/** Wait after the 1st and the 2nd failed attempt: the 3rd starts 15 min after the 1st, inside the window. */
export const AUTO_WITHDRAW_DELAYS_MS = [5 * 60_000, 10 * 60_000];
/**
 * Sandbox trigger for a failed purchase (what an inventory shortfall at the liquidity source does in production):
 * an order of exactly this amount, in any fiat, has its card charge approved and then fails PURCHASE_FAILED.
 */
export const SANDBOX_PURCHASE_FAIL_AMOUNT = '66.66';
export const NO_ACQUIRER_MESSAGE = 'Card payments are not available: no card acquirer is configured on this platform.';

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
}

export interface LockedQuote {
  quotePrice: string;
  userFee: string;
  networkFee: string;
  cryptoAmount: string;
  expiresAt: number;
}

export type AddressState = { state: 'NOT_ELIGIBLE' } | { state: 'NEEDED' } | { state: 'REVIEW' } | { state: 'REJECTED'; reason: string } | { state: 'VERIFIED_PLUS' };

export type KycState = { state: 'NEEDED' } | { state: 'REVIEW'; expectTime: number | null } | { state: 'REJECTED'; reason: string } | { state: 'VERIFIED' };

const toUser = (r: any): BuyflowUser => ({
  id: String(r.id), identifier: r.identifier, kind: r.identifier_kind, verified: r.verified_at !== null, consentAt: r.consent_at === null ? null : Number(r.consent_at),
  country: r.country, kycLevel: r.kyc_level, kycSource: r.kyc_source,
});
const toCard = (r: any): SavedCard => ({ id: String(r.id), brand: r.brand, last4: r.last4, expMonth: r.exp_month, expYear: r.exp_year });

export function normalizeIdentifier(kind: string, value: string): Result<string> {
  const v = String(value ?? '').trim();
  if (kind === 'email') {
    const e = v.toLowerCase();
    return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(e) && e.length <= 254 ? ok(e) : err('INVALID_IDENTIFIER', 'Enter a valid email address.');
  }
  if (kind === 'phone') {
    const p = v.replace(/[\s()-]/g, '');
    return /^\+[1-9]\d{6,14}$/.test(p) ? ok(p) : err('INVALID_IDENTIFIER', 'Enter the phone number with its country calling code, e.g. +33612345678.');
  }
  return err('INVALID_IDENTIFIER', 'Choose email or phone number.');
}

export function passwordProblem(p: string): string | null {
  if (p.length < 8 || p.length > 128) return 'The password needs 8 to 128 characters.';
  if (!/[A-Z]/.test(p) || !/[a-z]/.test(p) || !/\d/.test(p)) return 'The password needs an upper case letter, a lower case letter and a digit.';
  return null;
}

/** Documents by magic bytes: JPEG, PNG or PDF only. */
export function sniffDocument(bytes: Buffer): string | null {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (bytes.length >= 5 && bytes.subarray(0, 5).toString('latin1') === '%PDF-') return 'application/pdf';
  return null;
}

export function createBuyflowService(deps: {
  db: Db; clock: Clock; ids: IdGenerator; box: SecretBox; mailer: Mailer; ledger: Ledger; prices: PriceSource; catalog: Catalog;
  partners: PartnerService; orders: ConnectOrders; kyc: KycService; chain: ChainService; codeKey: string; brand?: string;
  /** null in production until a real acquirer is configured: card payment is then refused, never sent to the sandbox. */
  acquirer: Acquirer | null; mode?: 'sandbox' | 'production';
}) {
  const { db, clock, ids, box, mailer, ledger, prices, catalog, partners, orders, kyc, chain, acquirer } = deps;
  const brand = deps.brand ?? 'Rampart';
  const codeHash = (userId: string, code: string) => hmacSha256Hex(deps.codeKey, `${userId}:${code}`);
  const kycSubject = (userId: string) => `buyflow:${userId}`;
  const addressSubject = (userId: string) => `buyflow:${userId}:address`;
  const owner = (userId: string) => ({ ownerType: 'user' as const, ownerId: `buyflow:${userId}` });

  async function loadOrder(orderId: string): Promise<ConnectOrder | null> {
    const r = (await db.query(`SELECT * FROM connect_orders WHERE order_id = $1`, [orderId])).rows[0];
    return r ? toOrder(r) : null;
  }

  async function getUser(id: string, q: Queryable = db): Promise<BuyflowUser | null> {
    if (!/^\d{1,19}$/.test(id)) return null;
    const r = (await q.query(`SELECT * FROM buyflow_users WHERE id = $1`, [id])).rows[0];
    return r ? toUser(r) : null;
  }

  /** Queues a fresh code through the mail port (phone numbers go through the same port). */
  async function sendCode(userId: string): Promise<Result<{ sentTo: string }>> {
    return db.tx(async (q) => {
      const u = (await q.query(`SELECT * FROM buyflow_users WHERE id = $1 FOR UPDATE`, [userId])).rows[0];
      if (!u) return err('USER_NOT_FOUND');
      const now = clock.now();
      const recent = (await q.query(`SELECT created_at FROM buyflow_codes WHERE user_id = $1 AND created_at > $2 ORDER BY created_at DESC`, [userId, now - 3_600_000])).rows;
      if (recent.length > 0 && Number(recent[0].created_at) > now - RESEND_AFTER_MS) {
        return err('RESEND_TOO_SOON', `You can ask for a new code in ${Math.ceil((Number(recent[0].created_at) + RESEND_AFTER_MS - now) / 1000)} s.`);
      }
      if (recent.length >= MAX_SENDS_PER_HOUR) return err('TOO_MANY_CODES', 'Too many codes were sent. Try again in an hour.');
      const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
      // A new code voids the previous ones.
      await q.query(`UPDATE buyflow_codes SET consumed_at = $2 WHERE user_id = $1 AND consumed_at IS NULL`, [userId, now]);
      await q.query(`INSERT INTO buyflow_codes (id, user_id, code_hash, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)`, [ids.next(), userId, codeHash(userId, code), now + CODE_TTL_MS, now]);
      await mailer.send(q, { to: u.identifier, subject: `${brand} verification code`, text: `Your ${brand} verification code is ${code}. It is valid for 10 minutes.` });
      return ok({ sentTo: u.identifier });
    });
  }

  async function signup(input: { kind: string; identifier: string; password: string }): Promise<Result<{ userId: string }>> {
    const id = normalizeIdentifier(input.kind, input.identifier);
    if (!id.ok) return id;
    const bad = passwordProblem(String(input.password ?? ''));
    if (bad) return err('WEAK_PASSWORD', bad);
    const hash = await hashPassword(String(input.password));
    const userId = ids.next().toString();
    const r = await db.query(
      `INSERT INTO buyflow_users (id, identifier, identifier_kind, password_hash, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (identifier) DO NOTHING`,
      [userId, id.value, input.kind, hash, clock.now()],
    );
    if (r.rowCount === 0) return err('ACCOUNT_EXISTS', 'An account with this identifier exists. Log in instead.');
    const sent = await sendCode(userId);
    if (!sent.ok) return sent;
    return ok({ userId });
  }

  async function login(input: { kind: string; identifier: string; password: string }): Promise<Result<{ userId: string }>> {
    const id = normalizeIdentifier(input.kind, input.identifier);
    if (!id.ok) return id;
    const r = (await db.query(`SELECT id, password_hash FROM buyflow_users WHERE identifier = $1`, [id.value])).rows[0];
    const good = await verifyPassword(String(input.password ?? ''), r?.password_hash ?? 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=');
    if (!r || !good) return err('BAD_CREDENTIALS', 'Wrong account or password.');
    const sent = await sendCode(String(r.id));
    if (!sent.ok && sent.code !== 'RESEND_TOO_SOON') return sent;
    return ok({ userId: String(r.id) });
  }

  /** Checks the latest code; 5 wrong entries void it. Consent is required once and recorded with its version and time. */
  async function verifyCode(userId: string, code: string, consent: { terms: boolean; marketing: boolean }): Promise<Result<BuyflowUser>> {
    const out = await db.tx(async (q) => {
      const u = (await q.query(`SELECT * FROM buyflow_users WHERE id = $1 FOR UPDATE`, [userId])).rows[0];
      if (!u) return err('USER_NOT_FOUND');
      if (u.consent_at === null && !consent.terms) return err('CONSENT_REQUIRED', `Please agree to ${brand}'s Terms of Use and Privacy Policy.`);
      const c = (await q.query(`SELECT * FROM buyflow_codes WHERE user_id = $1 AND consumed_at IS NULL ORDER BY created_at DESC LIMIT 1`, [userId])).rows[0];
      const now = clock.now();
      if (!c || Number(c.expires_at) <= now || c.attempts >= CODE_MAX_TRIES) return err('CODE_EXPIRED', 'The code has expired. Ask for a new one.');
      if (!/^\d{6}$/.test(code) || !safeEqual(c.code_hash, codeHash(userId, code))) {
        await q.query(`UPDATE buyflow_codes SET attempts = attempts + 1 WHERE id = $1`, [c.id]);
        const left = CODE_MAX_TRIES - c.attempts - 1;
        return err('WRONG_CODE', left > 0 ? `Wrong code. ${left} attempts left.` : 'Wrong code. The code is now void; ask for a new one.');
      }
      await q.query(`UPDATE buyflow_codes SET consumed_at = $2 WHERE id = $1`, [c.id, now]);
      const r = await q.query(
        `UPDATE buyflow_users SET verified_at = COALESCE(verified_at, $2),
           consent_version = CASE WHEN consent_at IS NULL THEN $3 ELSE consent_version END, consent_at = COALESCE(consent_at, $2),
           marketing_opt_in = marketing_opt_in OR $4 WHERE id = $1 RETURNING *`,
        [userId, now, CONSENT_VERSION, consent.marketing],
      );
      return ok(toUser(r.rows[0]));
    });
    return out;
  }

  async function orderByToken(token: string) {
    const o = await orders.findByToken(token);
    if (!o) return null;
    const partner = await partners.get(o.partnerCode);
    if (!partner) return null;
    const bf = (await db.query(`SELECT * FROM buyflow_orders WHERE order_id = $1`, [o.orderId])).rows[0] ?? null;
    return { order: o, partner, bf };
  }

  /** The user whose session opened this link: attached to the order once (another user cannot take it over) and bound to merchantUserId. */
  async function attach(order: ConnectOrder, userId: string): Promise<Result<null>> {
    const now = clock.now();
    await db.query(`INSERT INTO buyflow_orders (order_id, user_id, created_at) VALUES ($1, $2, $3) ON CONFLICT (order_id) DO NOTHING`, [order.orderId, userId, now]);
    const owner2 = (await db.query(`SELECT user_id FROM buyflow_orders WHERE order_id = $1`, [order.orderId])).rows[0];
    if (String(owner2.user_id) !== userId) return err('ORDER_OF_ANOTHER_USER', 'This order belongs to another account.');
    if (order.merchantUserId) {
      await db.query(`INSERT INTO buyflow_bindings (partner_code, merchant_user_id, user_id, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
        [order.partnerCode, order.merchantUserId, userId, now]);
    }
    return ok(null);
  }

  async function boundUser(partnerCode: string, merchantUserId: string | null): Promise<string | null> {
    if (!merchantUserId) return null;
    const r = (await db.query(`SELECT user_id FROM buyflow_bindings WHERE partner_code = $1 AND merchant_user_id = $2`, [partnerCode, merchantUserId])).rows[0];
    return r ? String(r.user_id) : null;
  }

  /**
   * Where the user stands with KYC for this order. Facilitated KYC: a user shared and passed by a broker linked to
   * the partner is VERIFIED without the KYC pages. A buy-flow record's decision is applied here and by the worker.
   */
  async function kycState(user: BuyflowUser, order: ConnectOrder): Promise<KycState> {
    if (user.kycLevel !== 'NONE') return { state: 'VERIFIED' };
    if (order.merchantUserId) {
      const shared = await kyc.passedSharedUser(order.partnerCode, order.merchantUserId);
      if (shared) {
        await db.query(`UPDATE buyflow_users SET kyc_level = 'VERIFIED', kyc_source = 'shared', kyc_record_id = $2 WHERE id = $1 AND kyc_level = 'NONE'`, [user.id, shared.kycUserId]);
        return { state: 'VERIFIED' };
      }
    }
    return syncKyc(user.id);
  }

  async function syncKyc(userId: string): Promise<KycState> {
    return db.tx(async (q) => {
      const u = (await q.query(`SELECT * FROM buyflow_users WHERE id = $1 FOR UPDATE`, [userId])).rows[0];
      if (u.kyc_level !== 'NONE') return { state: 'VERIFIED' } as KycState;
      const s = await kyc.buyflowStatus(q, kycSubject(userId));
      if (!s) return { state: 'NEEDED' } as KycState;
      const waiting = (await q.query(
        `SELECT b.order_id FROM buyflow_orders b JOIN connect_orders c ON c.order_id = b.order_id WHERE b.user_id = $1 AND c.sub_status = 'KYC_REVIEW'`, [userId],
      )).rows;
      if (s.status === 'PASS') {
        await q.query(`UPDATE buyflow_users SET kyc_level = 'VERIFIED', kyc_source = 'buyflow', kyc_record_id = $2 WHERE id = $1`, [userId, s.recordId]);
        await mailer.send(q, { to: u.identifier, subject: `${brand}: identity verified`, text: `Your ${brand} intermediate verification is complete. You can now buy crypto.` });
        return { state: 'VERIFIED' } as KycState;
      }
      if (s.status === 'REJECT') {
        for (const w of waiting) await orders.transition(q, w.order_id, 'KYC_REVIEW', 'CREATED', { errorCode: 'KYC_REJECTED' });
        return { state: 'REJECTED', reason: s.failReason ?? 'Rejected' } as KycState;
      }
      return { state: 'REVIEW', expectTime: s.expectTime } as KycState;
    });
  }

  async function submitKyc(user: BuyflowUser, order: ConnectOrder, input: {
    country: string; idCountry: string; documentType: string; firstName: string; lastName: string; dateOfBirth: string;
    files: { field: 'front' | 'back' | 'selfie'; bytes: Buffer }[];
  }): Promise<Result<null>> {
    const country = String(input.country ?? '').toUpperCase();
    if (!/^[A-Z]{2}$/.test(country)) return err('INVALID_COUNTRY', 'Select your country of residence.');
    if (country !== String(input.idCountry ?? '').toUpperCase()) return err('COUNTRY_MISMATCH', 'Your country of residence must match the country of your ID.');
    if (!(DOCUMENT_TYPES as readonly string[]).includes(input.documentType)) return err('INVALID_DOCUMENT_TYPE', 'Choose a document type.');
    const firstName = String(input.firstName ?? '').trim();
    const lastName = String(input.lastName ?? '').trim();
    if (!firstName || !lastName || firstName.length > 64 || lastName.length > 64) return err('INVALID_NAME', 'Enter your first and last name as on your ID.');
    if (!/^\d{4}-\d{2}-\d{2}$/.test(String(input.dateOfBirth ?? ''))) return err('INVALID_DOB', 'Enter your date of birth.');
    const needed = input.documentType === 'PASSPORT' ? ['front', 'selfie'] : ['front', 'back', 'selfie'];
    const files: { field: string; contentType: string; bytes: Buffer }[] = [];
    for (const field of needed) {
      const f = input.files.find((x) => x.field === field);
      if (!f || f.bytes.length === 0) return err('MISSING_FILE', `Upload the ${field === 'selfie' ? 'selfie' : `${field} of the document`}.`);
      if (f.bytes.length > KYC_FILE_MAX_BYTES) return err('FILE_TOO_LARGE', `The ${field} file is larger than 5 MB.`);
      const type = sniffDocument(f.bytes);
      if (!type) return err('UNSUPPORTED_FILE', `The ${field} file must be a JPEG, PNG or PDF.`);
      files.push({ field, contentType: type, bytes: f.bytes });
    }
    return db.tx(async (q) => {
      const r = await kyc.submitBuyflow(q, kycSubject(user.id), {
        country, documentType: input.documentType, basic: { firstName, lastName, dateOfBirth: input.dateOfBirth }, files,
      });
      if (!r.ok) return r;
      await q.query(`UPDATE buyflow_users SET country = $2 WHERE id = $1`, [user.id, country]);
      await orders.transition(q, order.orderId, 'CREATED', 'KYC_REVIEW', { errorCode: null });
      return ok(null);
    });
  }

  /** Applies a proof-of-address decision to a locked user row: PASS raises VERIFIED to VERIFIED_PLUS; REJECT keeps VERIFIED. */
  async function applyAddress(q: Queryable, u: any): Promise<AddressState> {
    if (u.kyc_level === 'NONE') return { state: 'NOT_ELIGIBLE' };
    if (u.kyc_level === 'VERIFIED_PLUS') return { state: 'VERIFIED_PLUS' };
    const s = await kyc.buyflowStatus(q, addressSubject(String(u.id)));
    if (!s) return { state: 'NEEDED' };
    if (s.status === 'PASS') {
      const up = await q.query(`UPDATE buyflow_users SET kyc_level = 'VERIFIED_PLUS', address_review_since = NULL WHERE id = $1 AND kyc_level = 'VERIFIED'`, [u.id]);
      if (up.rowCount === 1) {
        await mailer.send(q, { to: u.identifier, subject: `${brand}: address verified`, text: `Your ${brand} advanced verification is complete. Your daily limit is now 200,000 USD.` });
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
      return u ? applyAddress(q, u) : { state: 'NOT_ELIGIBLE' } as AddressState;
    });
  }

  /** The proof-of-address step after VERIFIED: address and one document (sealed), reviewed as its own KYC check. */
  async function submitProofOfAddress(userId: string, input: { addressLine: string; city: string; postalCode: string; file: Buffer | null }): Promise<Result<null>> {
    const addressLine = String(input.addressLine ?? '').trim();
    const city = String(input.city ?? '').trim();
    const postalCode = String(input.postalCode ?? '').trim();
    if (!addressLine || !city || addressLine.length > 200 || city.length > 100 || postalCode.length > 20) return err('INVALID_ADDRESS', 'Enter your residential address and city.');
    if (!input.file || input.file.length === 0) return err('MISSING_FILE', 'Upload a proof of address (utility bill or bank statement of the last 3 months).');
    if (input.file.length > KYC_FILE_MAX_BYTES) return err('FILE_TOO_LARGE', 'The file is larger than 5 MB.');
    const contentType = sniffDocument(input.file);
    if (!contentType) return err('UNSUPPORTED_FILE', 'The file must be a JPEG, PNG or PDF.');
    const file = input.file;
    return db.tx(async (q): Promise<Result<null>> => {
      const u = (await q.query(`SELECT * FROM buyflow_users WHERE id = $1 FOR UPDATE`, [userId])).rows[0];
      if (!u) return err('USER_NOT_FOUND');
      if (u.kyc_level === 'NONE') return err('KYC_REQUIRED', 'Complete identity verification first.');
      if (u.kyc_level === 'VERIFIED_PLUS') return err('ALREADY_VERIFIED_PLUS', 'Your address is already verified.');
      const r = await kyc.submitBuyflowAddress(q, addressSubject(userId), { address: { addressLine, city, postalCode, country: u.country ?? '' }, file: { contentType, bytes: file } });
      if (!r.ok) return err(r.code, r.code === 'KYC_IN_REVIEW' ? 'Your proof of address is already under review.' : 'Your address is already verified.');
      await q.query(`UPDATE buyflow_users SET address_review_since = $2 WHERE id = $1`, [userId, clock.now()]);
      return ok(null);
    });
  }

  async function cards(userId: string): Promise<SavedCard[]> {
    return (await db.query(`SELECT * FROM buyflow_cards WHERE user_id = $1 ORDER BY id DESC`, [userId])).rows.map(toCard);
  }

  /** PAN and CVV go only to the acquirer; the platform keeps its token, brand, last 4 and expiry. */
  async function addCard(user: BuyflowUser, input: CardInput): Promise<Result<SavedCard>> {
    if (!acquirer) return err('CARD_PAYMENTS_UNAVAILABLE', NO_ACQUIRER_MESSAGE);
    const c = checkCard(input, clock.now());
    if (!c.ok) return c;
    const country = user.country;
    if (!country || !cardCountryRow(country) || !brandSupportedIn(country, c.value.brand)) {
      return err('CARD_NOT_SUPPORTED', `${c.value.brand === 'VISA' ? 'Visa' : 'Mastercard'} cards are not supported for your country of residence.`);
    }
    const t = await acquirer.tokenize(c.value);
    if (t.issuerCountry && !brandSupportedIn(t.issuerCountry, t.brand)) return err('CARD_NOT_SUPPORTED', 'Cards issued in this country are not supported.');
    const r = await db.query(
      `INSERT INTO buyflow_cards (id, user_id, acquirer_token, brand, last4, exp_month, exp_year, name_sealed, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *`,
      [ids.next(), user.id, t.token, t.brand, t.last4, c.value.expMonth, c.value.expYear, box.seal(c.value.name), clock.now()],
    );
    return ok(toCard(r.rows[0]));
  }

  /** Locks a fresh price for 59 s (nothing is charged). */
  async function lockQuote(order: ConnectOrder): Promise<Result<LockedQuote>> {
    const partner = await partners.get(order.partnerCode);
    if (!partner) return err('ORDER_NOT_FOUND');
    const qv = catalog.quote(partner, { fiat: order.fiatCurrency, crypto: order.cryptoCurrency, network: order.cryptoNetwork, amount: order.orderAmount });
    if (!qv.ok) return err(qv.code, qv.message);
    const expiresAt = clock.now() + QUOTE_LOCK_MS;
    await db.query(`UPDATE buyflow_orders SET quote_price = $2, user_fee = $3, network_fee = $4, crypto_amount = $5, quote_expires_at = $6 WHERE order_id = $1`,
      [order.orderId, qv.value.quotePrice, qv.value.userFee, qv.value.networkFee, qv.value.cryptoAmount, expiresAt]);
    return ok({ quotePrice: qv.value.quotePrice, userFee: qv.value.userFee, networkFee: qv.value.networkFee, cryptoAmount: qv.value.cryptoAmount, expiresAt });
  }

  function lockedOf(bf: any): LockedQuote | null {
    if (!bf?.quote_price) return null;
    const d = (v: string) => new Decimal(v).toFixed();
    return { quotePrice: d(bf.quote_price), userFee: d(bf.user_fee), networkFee: d(bf.network_fee), cryptoAmount: d(bf.crypto_amount), expiresAt: Number(bf.quote_expires_at) };
  }

  type ConfirmOutcome = { next: 'STATUS' } | { next: 'CHALLENGE'; chargeId: string };

  /**
   * Confirm (P5): quote still locked, limit reserved atomically with the move to PAYMENT_PROCESSING, then the card
   * charge. Nothing moves in the ledger before the acquirer approves.
   */
  async function confirm(orderId: string, userId: string, cardId: string): Promise<Result<ConfirmOutcome>> {
    const now = clock.now();
    if (!acquirer) return err('CARD_PAYMENTS_UNAVAILABLE', NO_ACQUIRER_MESSAGE);
    const card = (await db.query(`SELECT * FROM buyflow_cards WHERE id = $1 AND user_id = $2`, [cardId, userId])).rows[0];
    if (!card) return err('CARD_NOT_FOUND', 'Choose a payment method.');
    const step1 = await db.tx(async (q): Promise<Result<{ attempt: number; order: ConnectOrder }>> => {
      const u = (await q.query(`SELECT * FROM buyflow_users WHERE id = $1 FOR UPDATE`, [userId])).rows[0];
      const bf = (await q.query(`SELECT * FROM buyflow_orders WHERE order_id = $1 AND user_id = $2 FOR UPDATE`, [orderId, userId])).rows[0];
      const o = (await q.query(`SELECT sub_status, order_amount, fiat_currency, expired_time FROM connect_orders WHERE order_id = $1`, [orderId])).rows[0];
      if (!bf || !o) return err('ORDER_NOT_FOUND');
      const from = o.sub_status as SubStatus;
      if (from !== 'CREATED' && from !== 'KYC_REVIEW') return err('ORDER_NOT_PAYABLE', 'This order can no longer be paid.');
      if (Number(o.expired_time) <= now) return err('ORDER_EXPIRED', 'The order has expired.');
      if (u.kyc_level === 'NONE') return err('KYC_REQUIRED', 'Complete identity verification first.');
      // An approved proof of address raises the limit at once, even before the worker applies the decision.
      const level: KycLevel = u.address_review_since !== null && u.kyc_level === 'VERIFIED' && (await applyAddress(q, u)).state === 'VERIFIED_PLUS' ? 'VERIFIED_PLUS' : u.kyc_level;
      if (!bf.quote_expires_at || Number(bf.quote_expires_at) < now) return err('QUOTE_EXPIRED', 'The price has changed. Please review the new quote.');
      const fiatUsd = prices.fiatUsd(o.fiat_currency);
      if (fiatUsd === null) return err('SYSTEM_ERROR');
      const usd = new Decimal(o.order_amount).mul(fiatUsd).toDecimalPlaces(2, Decimal.ROUND_UP).toFixed(2);
      const lim = await checkLimitLocked(q, userId, level, usd, now, orderId);
      if (!lim.ok) {
        await orders.transition(q, orderId, from, 'FAILED', { errorCode: 'LIMIT_EXCEEDED' });
        const more = level === 'VERIFIED' ? ' Verify your address to raise the limit to 200,000 USD per day.' : '';
        return err('LIMIT_EXCEEDED', `This purchase (${usd} USD) exceeds your daily limit. You can buy up to ${lim.remainingUsd} USD more in the next 24 hours (limit ${lim.limitUsd} USD).${more}`);
      }
      const moved = await orders.transition(q, orderId, from, 'PAYMENT_PROCESSING', { errorCode: null });
      if (!moved) throw new DomainError('CONCURRENT_UPDATE', 'order changed concurrently');
      const attempt = bf.payment_attempts + 1;
      await q.query(`UPDATE buyflow_orders SET confirmed_at = $2, usd_amount = $3, card_id = $4, payment_attempts = $5, charge_id = NULL WHERE order_id = $1`,
        [orderId, now, usd, cardId, attempt]);
      return ok({ attempt, order: moved });
    });
    if (!step1.ok) return step1;
    const charge = await acquirer.charge({ token: card.acquirer_token, amount: step1.value.order.orderAmount, currency: step1.value.order.fiatCurrency, ref: `${orderId}:${step1.value.attempt}` });
    await db.query(`UPDATE buyflow_orders SET charge_id = $2 WHERE order_id = $1`, [orderId, charge.chargeId]);
    return afterCharge(orderId, charge);
  }

  async function afterCharge(orderId: string, charge: Charge): Promise<Result<ConfirmOutcome>> {
    if (charge.status === 'CHALLENGE') return ok({ next: 'CHALLENGE', chargeId: charge.chargeId });
    if (charge.status !== 'APPROVED') {
      const errorCode = charge.status === 'INSUFFICIENT_FUNDS' ? 'INSUFFICIENT_FUNDS' : charge.status === 'THREE_DS_FAILED' ? 'THREE_DS_FAILED' : 'CARD_DECLINED';
      await db.tx(async (q) => {
        const bf = (await q.query(`SELECT payment_attempts FROM buyflow_orders WHERE order_id = $1`, [orderId])).rows[0];
        await orders.transition(q, orderId, 'PAYMENT_PROCESSING', bf.payment_attempts >= MAX_PAYMENT_ATTEMPTS ? 'FAILED' : 'CREATED', { errorCode });
      });
      return ok({ next: 'STATUS' });
    }
    await purchase(orderId, charge);
    return ok({ next: 'STATUS' });
  }

  /** Card captured → user's fiat; purchase from inventory at the locked price; fees to revenue; then the withdrawal. */
  async function purchase(orderId: string, charge: Charge) {
    const o = (await loadOrder(orderId))!;
    const user = (await db.query(`SELECT * FROM buyflow_orders WHERE order_id = $1`, [orderId])).rows[0];
    const who = owner(String(user.user_id));
    await db.tx(async (q) => {
      const moved = await orders.transition(q, orderId, 'PAYMENT_PROCESSING', 'PURCHASE_PROCESSING');
      if (!moved) return;
      await ledger.transfer(q, {
        id: `bf:charge:${charge.chargeId}`, debit: platformAccount('card_settlement', o.fiatCurrency), credit: { ...who, asset: o.fiatCurrency },
        amount: o.orderAmount, kind: 'connect_card_charge', ref: orderId,
      });
    });
    const bf = lockedOf(user)!;
    try {
      await db.tx(async (q) => {
        const gross = new Decimal(bf.cryptoAmount).plus(bf.networkFee).toFixed();
        const net = new Decimal(o.orderAmount).minus(bf.userFee).toFixed();
        await ledger.transfer(q, { id: `bf:fee:${orderId}`, debit: { ...who, asset: o.fiatCurrency }, credit: platformAccount('revenue_connect_fee', o.fiatCurrency), amount: bf.userFee, kind: 'connect_fee', ref: orderId });
        await ledger.transfer(q, { id: `bf:pay:${orderId}`, debit: { ...who, asset: o.fiatCurrency }, credit: platformAccount('connect_sales', o.fiatCurrency), amount: net, kind: 'connect_purchase_fiat', ref: orderId });
        await ledger.transfer(q, { id: `bf:buy:${orderId}`, debit: platformAccount('inventory', o.cryptoCurrency), credit: { ...who, asset: o.cryptoCurrency }, amount: gross, kind: 'connect_purchase_crypto', ref: orderId });
        await ledger.transfer(q, { id: `bf:netfee:${orderId}`, debit: { ...who, asset: o.cryptoCurrency }, credit: platformAccount('revenue_network_fee', o.cryptoCurrency), amount: bf.networkFee, kind: 'connect_network_fee', ref: orderId });
        const done = await orders.transition(q, orderId, 'PURCHASE_PROCESSING', 'WITHDRAW_PROCESSING', { executePrice: bf.quotePrice, obtainAmount: bf.cryptoAmount });
        if (!done) throw new DomainError('CONCURRENT_UPDATE', 'order changed concurrently');
        if (deps.mode === 'sandbox' && new Decimal(o.orderAmount).eq(SANDBOX_PURCHASE_FAIL_AMOUNT)) throw new DomainError('PURCHASE_FAILED', 'sandbox purchase failure trigger');
      });
    } catch (e) {
      // The purchase did not happen: reverse the card charge in full, and the order fails PURCHASE_FAILED.
      await db.tx(async (q) => {
        const failed = await orders.transition(q, orderId, 'PURCHASE_PROCESSING', 'FAILED', { errorCode: 'PURCHASE_FAILED' });
        if (!failed) return;
        await ledger.transfer(q, {
          id: `bf:reverse:${charge.chargeId}`, debit: { ...who, asset: o.fiatCurrency }, credit: platformAccount('card_settlement', o.fiatCurrency),
          amount: o.orderAmount, kind: 'connect_card_refund', ref: orderId,
        });
      });
      await acquirer!.refund(charge.chargeId);
      // A purchase that could not run is an outcome the order shows (FAILED, PURCHASE_FAILED), not a crash of the request.
      if (e instanceof DomainError) return;
      throw e;
    }
    await requestWithdrawal(orderId);
  }

  async function requestWithdrawal(orderId: string) {
    const o = (await loadOrder(orderId))!;
    // The first automatic attempt, counted before the chain can report its outcome.
    const bf = (await db.query(
      `UPDATE buyflow_orders SET withdraw_auto_attempts = GREATEST(withdraw_auto_attempts, 1), withdraw_first_at = COALESCE(withdraw_first_at, $2) WHERE order_id = $1 RETURNING user_id`,
      [orderId, clock.now()],
    )).rows[0];
    const r = await chain.withdrawals.request({
      ref: WITHDRAW_REF + orderId, ...owner(String(bf.user_id)), asset: o.cryptoCurrency, network: o.cryptoNetwork,
      address: o.cryptoAddress, memo: o.cryptoAddressMemo, amount: o.obtainAmount,
    });
    if (r.ok) {
      await db.query(`UPDATE buyflow_orders SET withdrawal_id = $2 WHERE order_id = $1`, [orderId, r.value.id]);
      return;
    }
    // Could not even be queued: the crypto stays the user's, and the user can retry from the status page.
    await db.tx((q) => orders.transition(q, orderId, 'WITHDRAW_PROCESSING', 'WITHDRAW_FAILED', { errorCode: 'WITHDRAW_FAILED' }));
  }

  async function completeChallenge(orderId: string, userId: string, passed: boolean): Promise<Result<ConfirmOutcome>> {
    const bf = (await db.query(`SELECT charge_id FROM buyflow_orders WHERE order_id = $1 AND user_id = $2`, [orderId, userId])).rows[0];
    if (!bf?.charge_id) return err('NO_CHALLENGE');
    if (!acquirer) return err('CARD_PAYMENTS_UNAVAILABLE', NO_ACQUIRER_MESSAGE);
    const c = await acquirer.completeChallenge(bf.charge_id, passed);
    if (!c) return err('NO_CHALLENGE');
    return afterCharge(orderId, c);
  }

  /** Called by the chain in the transaction that settles a withdrawal. */
  async function onWithdrawalSettled(q: Queryable, w: Withdrawal) {
    if (!w.ref.startsWith(WITHDRAW_REF)) return;
    const orderId = w.ref.slice(WITHDRAW_REF.length);
    if (w.status === 'completed') await orders.transition(q, orderId, 'WITHDRAW_PROCESSING', 'COMPLETED', { withdrawTxHash: w.txHash });
    else if (w.status === 'failed') {
      // Automatic attempts first (spec §6.4): the order stays WITHDRAW_PROCESSING while another one is planned.
      const bf = (await q.query(`SELECT withdraw_auto_attempts, withdraw_first_at FROM buyflow_orders WHERE order_id = $1 FOR UPDATE`, [orderId])).rows[0];
      const now = clock.now();
      const made = bf ? Number(bf.withdraw_auto_attempts) : AUTO_WITHDRAW_ATTEMPTS;
      const first = bf?.withdraw_first_at == null ? now : Number(bf.withdraw_first_at);
      const due = now + (AUTO_WITHDRAW_DELAYS_MS[made - 1] ?? 0);
      if (made < AUTO_WITHDRAW_ATTEMPTS && due <= first + AUTO_WITHDRAW_WINDOW_MS) {
        await q.query(`UPDATE buyflow_orders SET withdraw_next_at = $2 WHERE order_id = $1`, [orderId, due]);
        return;
      }
      await q.query(`UPDATE buyflow_orders SET withdraw_next_at = NULL WHERE order_id = $1`, [orderId]);
      await orders.transition(q, orderId, 'WITHDRAW_PROCESSING', 'WITHDRAW_FAILED', { errorCode: 'WITHDRAW_FAILED' });
    }
  }

  /** A due automatic attempt: claimed by a conditional update (one worker), then the chain's idempotent retry of the same withdrawal. */
  async function autoRetryWithdrawal(orderId: string, dueAt: bigint | number): Promise<boolean> {
    const claimed = await db.query(
      `UPDATE buyflow_orders SET withdraw_next_at = NULL, withdraw_auto_attempts = withdraw_auto_attempts + 1 WHERE order_id = $1 AND withdraw_next_at = $2`, [orderId, dueAt],
    );
    if (claimed.rowCount === 0) return false;
    const w = await chain.withdrawals.getByRef(WITHDRAW_REF + orderId);
    const r = w ? await chain.withdrawals.retry(w.id) : null;
    if (!r?.ok) {
      const now = w ? await chain.withdrawals.getByRef(WITHDRAW_REF + orderId) : null;
      // Could not be retried and still failed: hand it to the user's Retry button rather than leave it waiting.
      if (!now || now.status === 'failed') await db.tx((q) => orders.transition(q, orderId, 'WITHDRAW_PROCESSING', 'WITHDRAW_FAILED', { errorCode: 'WITHDRAW_FAILED' }));
    }
    return true;
  }

  /** Retry withdrawal (seed §7): one retry at a time, through the chain's idempotent retry (same withdrawal, never a second live transaction). */
  async function retryWithdrawal(orderId: string, userId: string): Promise<Result<null>> {
    const bf = (await db.query(`SELECT withdrawal_id FROM buyflow_orders WHERE order_id = $1 AND user_id = $2`, [orderId, userId])).rows[0];
    if (!bf) return err('ORDER_NOT_FOUND');
    const moved = await db.tx((q) => orders.transition(q, orderId, 'WITHDRAW_FAILED', 'WITHDRAW_PROCESSING', { errorCode: null }));
    if (!moved) return err('NOT_RETRYABLE', 'The withdrawal is not waiting for a retry.');
    if (!bf.withdrawal_id) {
      await requestWithdrawal(orderId);
      return ok(null);
    }
    const r = await chain.withdrawals.retry(bf.withdrawal_id);
    if (!r.ok) {
      await db.tx((q) => orders.transition(q, orderId, 'WITHDRAW_PROCESSING', 'WITHDRAW_FAILED', { errorCode: 'WITHDRAW_FAILED' }));
      return err(r.code, r.message);
    }
    return ok(null);
  }

  /** Worker tick: KYC decisions of users with orders in review; withdrawals not yet queued after a crash. */
  async function runOnce(): Promise<number> {
    let n = 0;
    // An approved user's order stays KYC_REVIEW until confirm (KYC_REVIEW → PAYMENT_PROCESSING), so only users still
    // unverified are polled, and only a decision applied now counts as work: counting a settled user every tick made
    // startLoop re-run at once forever, and with PGlite (synchronous, microtasks only) that starved every request.
    const reviewing = (await db.query(
      `SELECT DISTINCT b.user_id FROM buyflow_orders b JOIN connect_orders c ON c.order_id = b.order_id JOIN buyflow_users u ON u.id = b.user_id
       WHERE c.sub_status = 'KYC_REVIEW' AND u.kyc_level = 'NONE' LIMIT 100`,
    )).rows;
    for (const r of reviewing) {
      const s = await syncKyc(String(r.user_id));
      if (s.state === 'VERIFIED' || s.state === 'REJECTED') n++;
    }
    const missing = (await db.query(
      `SELECT b.order_id FROM buyflow_orders b JOIN connect_orders c ON c.order_id = b.order_id WHERE c.sub_status = 'WITHDRAW_PROCESSING' AND b.withdrawal_id IS NULL LIMIT 100`,
    )).rows;
    for (const r of missing) {
      await requestWithdrawal(r.order_id);
      n++;
    }
    const due = (await db.query(
      `SELECT b.order_id, b.withdraw_next_at FROM buyflow_orders b JOIN connect_orders c ON c.order_id = b.order_id
       WHERE b.withdraw_next_at <= $1 AND c.sub_status = 'WITHDRAW_PROCESSING' ORDER BY b.withdraw_next_at LIMIT 100`, [clock.now()],
    )).rows;
    for (const r of due) if (await autoRetryWithdrawal(r.order_id, r.withdraw_next_at)) n++;
    const addresses = (await db.query(`SELECT id FROM buyflow_users WHERE address_review_since IS NOT NULL AND kyc_level = 'VERIFIED' LIMIT 100`)).rows;
    for (const r of addresses) {
      const s = await syncAddress(String(r.id));
      if (s.state === 'VERIFIED_PLUS' || s.state === 'REJECTED') n++;
    }
    return n;
  }

  async function withdrawalOf(orderId: string): Promise<Withdrawal | null> {
    return chain.withdrawals.getByRef(WITHDRAW_REF + orderId);
  }

  return {
    getUser, sendCode, signup, login, verifyCode, orderByToken, attach, boundUser, kycState, syncKyc, submitKyc, cards, addCard, lockQuote, lockedOf,
    confirm, completeChallenge, loadOrder, onWithdrawalSettled, retryWithdrawal, runOnce, withdrawalOf, brand,
    submitProofOfAddress, syncAddress, autoRetryWithdrawal, cardPaymentsAvailable: acquirer !== null,
  };
}
export type BuyflowService = ReturnType<typeof createBuyflowService>;
