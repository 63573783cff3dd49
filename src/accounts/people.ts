import type { Clock } from '../platform/clock.ts';
import { codeDigest, codeMatches, newConfirmationCode } from '../platform/codes.ts';
import type { DbRow, Queryable } from '../platform/db/client.ts';
import { err, ok, type Result } from '../platform/errors.ts';
import type { IdGenerator } from '../platform/ids.ts';
import type { Mailer } from '../platform/mail.ts';

/**
 * A person's account (issue #16, migration 0026): one row of `buyflow_users` (the table keeps the buy flow's name)
 * holds the identifier, the password, the e-mail verification, the KYC level and the limits; an e-mail account has
 * a payer profile (`payers`, linked 1:1 by user_id), whose id owns the person's ledger balances and checkout session.
 * This file is the one place that creates accounts, checks passwords' owners and sends and checks the one-time codes;
 * the buy flow (src/connect/buyflow) keeps the KYC and limit columns it always had.
 */
export const CODE_TTL_MS = 10 * 60_000;
export const CODE_MAX_TRIES = 5;
export const RESEND_AFTER_MS = 59_000;
export const MAX_SENDS_PER_HOUR = 5;
export const CONSENT_VERSION = 'terms-2024-01+privacy-2024-01';
/** Compared against when there is no account or no password, so timing does not reveal which e-mails exist. */
export const DUMMY_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

export type IdentifierKind = 'email' | 'phone';
export type AccountKycLevel = 'NONE' | 'VERIFIED' | 'VERIFIED_PLUS';

export function normalizeIdentifier(kind: string, value: string): Result<string> {
  const v = String(value ?? '').trim();
  if (kind === 'email') {
    const e = v.toLowerCase();
    return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(e) && e.length <= 254
      ? ok(e)
      : err('INVALID_IDENTIFIER', 'Enter a valid email address.');
  }
  if (kind === 'phone') {
    const p = v.replace(/[\s()-]/g, '');
    return /^\+[1-9]\d{6,14}$/.test(p)
      ? ok(p)
      : err('INVALID_IDENTIFIER', 'Enter the phone number with its country calling code, e.g. +33612345678.');
  }
  return err('INVALID_IDENTIFIER', 'Choose email or phone number.');
}

/** The password rules of a person's own choice (sign-up pages); the operator's sandbox helper only needs 8 to 128. */
export function passwordProblem(p: string): string | null {
  if (p.length < 8 || p.length > 128) return 'The password needs 8 to 128 characters.';
  if (!/[A-Z]/.test(p) || !/[a-z]/.test(p) || !/\d/.test(p))
    return 'The password needs an upper case letter, a lower case letter and a digit.';
  return null;
}

/**
 * Creates an account and, for an e-mail, its payer profile, in the caller's transaction. Null when the identifier is
 * taken. The payer id comes from the payer sequence; the account id is the caller's (the buy flow's id generator) or
 * else the payer's id (13 digits, apart from the generator's 18 to 19, so the two never collide).
 */
export async function insertAccount(
  q: Queryable,
  a: {
    userId?: string;
    kind: IdentifierKind;
    identifier: string;
    passwordHash: string | null;
    verifiedAt: number | null;
    kycLevel?: AccountKycLevel;
    kycSource?: string | null;
    kycRejectedAt?: number | null;
    country?: string | null;
    now: number;
  },
): Promise<{ userId: string; payerId: string | null } | null> {
  const payerId =
    a.kind === 'email' ? String((await q.query(`SELECT nextval('payer_id_seq')::text AS id`)).rows[0].id) : null;
  const userId = a.userId ?? payerId;
  if (!userId) throw new Error('a phone account needs its id from the caller');
  const r = await q.query(
    `INSERT INTO buyflow_users (id, identifier, identifier_kind, password_hash, verified_at, kyc_level, kyc_source,
      kyc_rejected_at, country, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (identifier) DO NOTHING`,
    [
      userId,
      a.identifier,
      a.kind,
      a.passwordHash,
      a.verifiedAt,
      a.kycLevel ?? 'NONE',
      a.kycSource ?? null,
      a.kycRejectedAt ?? null,
      a.country ?? null,
      a.now,
    ],
  );
  if (r.rowCount === 0) return null;
  if (payerId)
    await q.query(`INSERT INTO payers (id, user_id, created_at) VALUES ($1, $2, $3)`, [payerId, userId, a.now]);
  return { userId, payerId };
}

/**
 * The payer view of an account: its e-mail, and its KYC for payouts (binance-pay-extended.md §10.2) derived from the
 * one KYC level: PASS when verified (an unproven e-mail never passes), REJECT after a reviewer's rejection, else
 * PENDING.
 */
export const PAYER_COLUMNS = `p.id AS payer_id, p.user_id, u.identifier AS email, u.country,
  CASE WHEN u.verified_at IS NOT NULL AND u.kyc_level <> 'NONE' THEN 'PASS'
    WHEN u.kyc_rejected_at IS NOT NULL THEN 'REJECT' ELSE 'PENDING' END AS kyc_status`;
export const PAYER_FROM = `payers p JOIN buyflow_users u ON u.id = p.user_id`;

export interface PayerRow {
  payerId: bigint;
  userId: string;
  email: string;
  kycStatus: 'PASS' | 'PENDING' | 'REJECT';
  country: string | null;
}
export const toPayerRow = (r: DbRow): PayerRow => ({
  payerId: BigInt(r.payer_id),
  userId: String(r.user_id),
  email: r.email,
  kycStatus: r.kyc_status,
  country: r.country ?? null,
});

/** The account's payer profile id (e-mail accounts), or null. */
export async function payerIdOfUser(q: Queryable, userId: string): Promise<string | null> {
  if (!/^\d{1,19}$/.test(userId)) return null;
  const r = (await q.query(`SELECT id FROM payers WHERE user_id = $1`, [userId])).rows[0];
  return r ? String(r.id) : null;
}

/**
 * The one-time codes of every account (buy-flow sign-up and login, /signup): 6 digits, stored as an HMAC keyed by
 * the flow's key and the account, valid 10 minutes, 5 wrong entries void it, a new code voids the older ones, one
 * send per 59 s and 5 per hour per account. Delivered through the platform mailer (the dev mailbox in the sandbox;
 * phone numbers go through the same port).
 */
export function createCodes(deps: { clock: Clock; ids: IdGenerator; mailer: Mailer; codeKey: string; brand: string }) {
  const { clock, ids, mailer, brand } = deps;

  /** In the caller's transaction, which holds the account row (FOR UPDATE) so two sends cannot both pass the limit. */
  async function send(q: Queryable, account: { id: string; identifier: string }): Promise<Result<{ sentTo: string }>> {
    const now = clock.now();
    const recent = (
      await q.query(
        `SELECT created_at FROM buyflow_codes WHERE user_id = $1 AND created_at > $2 ORDER BY created_at DESC`,
        [account.id, now - 3_600_000],
      )
    ).rows;
    if (recent.length > 0 && Number(recent[0].created_at) > now - RESEND_AFTER_MS) {
      return err(
        'RESEND_TOO_SOON',
        `You can ask for a new code` +
          ` in ${Math.ceil((Number(recent[0].created_at) + RESEND_AFTER_MS - now) / 1000)} s.`,
      );
    }
    if (recent.length >= MAX_SENDS_PER_HOUR)
      return err('TOO_MANY_CODES', 'Too many codes were sent. Try again in an hour.');
    const code = newConfirmationCode();
    await q.query(`UPDATE buyflow_codes SET consumed_at = $2 WHERE user_id = $1 AND consumed_at IS NULL`, [
      account.id,
      now,
    ]);
    await q.query(
      `INSERT INTO buyflow_codes (id, user_id, code_hash, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)`,
      [ids.next(), account.id, codeDigest(deps.codeKey, account.id, code), now + CODE_TTL_MS, now],
    );
    await mailer.send(q, {
      to: account.identifier,
      subject: `${brand} verification code`,
      text: `Your ${brand} verification code is ${code}. It is valid for 10 minutes.`,
    });
    return ok({ sentTo: account.identifier });
  }

  /**
   * Checks the latest code in the caller's transaction (which holds the account row) and consumes it when right; a
   * wrong entry is counted, and the caller must commit that count even though it answers an error.
   */
  async function check(q: Queryable, userId: string, code: string): Promise<Result<null>> {
    const c = (
      await q.query(
        `SELECT * FROM buyflow_codes WHERE user_id = $1 AND consumed_at IS NULL ORDER BY created_at DESC LIMIT 1`,
        [userId],
      )
    ).rows[0];
    const now = clock.now();
    if (!c || Number(c.expires_at) <= now || c.attempts >= CODE_MAX_TRIES)
      return err('CODE_EXPIRED', 'The code has expired. Ask for a new one.');
    if (!codeMatches(deps.codeKey, userId, code, c.code_hash)) {
      await q.query(`UPDATE buyflow_codes SET attempts = attempts + 1 WHERE id = $1`, [c.id]);
      const left = CODE_MAX_TRIES - c.attempts - 1;
      return err(
        'WRONG_CODE',
        left > 0 ? `Wrong code. ${left} attempts left.` : 'Wrong code. The code is now void; ask for a new one.',
      );
    }
    await q.query(`UPDATE buyflow_codes SET consumed_at = $2 WHERE id = $1`, [c.id, now]);
    return ok(null);
  }

  return { send, check };
}
export type Codes = ReturnType<typeof createCodes>;

/**
 * The payer session: the hosted checkout's (src/pay/checkout/routes.ts, which has its own copy of these names), set
 * as well by /signup, /login and a buy-flow login, and read by the wallet pages.
 */
export const PAYER_SESSION_COOKIE = 'rampart_payer';
export const PAYER_SESSION_SUBJECT = 'payer';
export const payerCookieOptions = (secure: boolean) =>
  ({ path: '/', httpOnly: true, sameSite: 'lax', secure, maxAge: 12 * 3600 }) as const;
