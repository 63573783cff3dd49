import type { Clock } from '../platform/clock.ts';
import { hashPassword, randomString, sha256Hex, verifyPassword } from '../platform/crypto.ts';
import type { Db, Queryable } from '../platform/db/client.ts';
import { err, ok, type Result } from '../platform/errors.ts';
import type { IdGenerator } from '../platform/ids.ts';
import type { Mailer } from '../platform/mail.ts';
import type { DbRow } from '../platform/db/client.ts';

/**
 * Merchant dashboard users: email + scrypt password. The operator creates a user with its merchant; the user
 * chooses the password through an emailed single-use link (only its hash is stored).
 */
const SET_PASSWORD_TTL_MS = 72 * 3_600_000;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const DUMMY_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

export interface MerchantUser {
  userId: string;
  merchantId: string;
  email: string;
}

type UserError = 'INVALID_INPUT' | 'EMAIL_TAKEN' | 'BAD_CREDENTIALS' | 'LINK_INVALID';

export function createMerchantUsers(deps: {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  mailer: Mailer;
  publicUrl: string;
}) {
  const { db, clock, ids, mailer } = deps;
  const toUser = (r: DbRow): MerchantUser => ({
    userId: String(r.id),
    merchantId: String(r.merchant_id),
    email: r.email,
  });

  return {
    normalizeEmail(email: unknown): string | null {
      const e = typeof email === 'string' ? email.trim().toLowerCase() : '';
      return EMAIL.test(e) && e.length <= 254 ? e : null;
    },

    async emailTaken(email: string) {
      return (
        (await db.query(`SELECT 1 FROM merchant_users WHERE email = $1`, [email.trim().toLowerCase()])).rows.length > 0
      );
    },

    /** Creates the user and emails the set-password link, in one transaction. */
    async invite(merchantId: string, email: string): Promise<Result<MerchantUser, UserError>> {
      const e = this.normalizeEmail(email);
      if (!e) return err('INVALID_INPUT', 'a valid email is required');
      const token = randomString(48);
      const now = clock.now();
      return db.tx(async (q) => {
        const r = await q.query(
          `INSERT INTO merchant_users (id, merchant_id, email, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (email)
            DO NOTHING RETURNING *`,
          [ids.next(), merchantId, e, now],
        );
        if (r.rows.length === 0) return err('EMAIL_TAKEN', 'a dashboard user with this email exists');
        const user = toUser(r.rows[0]);
        await q.query(`INSERT INTO merchant_user_links (token_hash, user_id, expires_at) VALUES ($1, $2, $3)`, [
          sha256Hex(token),
          user.userId,
          now + SET_PASSWORD_TTL_MS,
        ]);
        await mailer.send(q, {
          to: e,
          subject: 'Set your Rampart merchant dashboard password',
          text:
            `Your merchant dashboard account is ready. Choose your password within 72 ` +
            `hours:\n${deps.publicUrl}/en/dashboard/set-password?token=${token}\n`,
        });
        return ok(user);
      });
    },

    /**
     * A user whose password is chosen by the caller, with no set-password mail: only the sandbox demo seed, which
     * writes the password to its credentials file. Everyone else gets a set-password link (invite).
     */
    async createWithPassword(
      merchantId: string,
      email: string,
      password: string,
    ): Promise<Result<MerchantUser, UserError>> {
      const e = this.normalizeEmail(email);
      if (!e) return err('INVALID_INPUT', 'a valid email is required');
      if (password.length < 10 || password.length > 200)
        return err('INVALID_INPUT', 'The password needs 10 to 200 characters.');
      const r = await db.query(
        `INSERT INTO merchant_users (id, merchant_id, email, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)
          ON CONFLICT (email) DO NOTHING RETURNING *`,
        [ids.next(), merchantId, e, await hashPassword(password), clock.now()],
      );
      if (r.rows.length === 0) return err('EMAIL_TAKEN', 'a dashboard user with this email exists');
      return ok(toUser(r.rows[0]));
    },

    async linkValid(token: string): Promise<boolean> {
      const r = (
        await db.query(`SELECT expires_at, used_at FROM merchant_user_links WHERE token_hash = $1`, [
          sha256Hex(String(token)),
        ])
      ).rows[0];
      return Boolean(r && r.used_at === null && Number(r.expires_at) > clock.now());
    },

    /** Uses the link once: a conditional update, so a replayed link cannot set the password again. */
    async setPassword(token: string, password: string): Promise<Result<MerchantUser, UserError>> {
      if (typeof password !== 'string' || password.length < 10 || password.length > 200)
        return err('INVALID_INPUT', 'The password needs 10 to 200 characters.');
      const hash = await hashPassword(password);
      const now = clock.now();
      return db.tx(async (q) => {
        const link = (
          await q.query(
            `UPDATE merchant_user_links SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
              RETURNING user_id`,
            [sha256Hex(String(token)), now],
          )
        ).rows[0];
        if (!link) return err('LINK_INVALID', 'This link is invalid, used or expired.');
        const u = (
          await q.query(`UPDATE merchant_users SET password_hash = $2 WHERE id = $1 RETURNING *`, [link.user_id, hash])
        ).rows[0];
        return ok(toUser(u));
      });
    },

    async authenticate(email: unknown, password: unknown): Promise<Result<MerchantUser, UserError>> {
      const e = typeof email === 'string' ? email.trim().toLowerCase() : '';
      const r = (await db.query(`SELECT * FROM merchant_users WHERE email = $1`, [e])).rows[0];
      // Hash even for unknown users so the response time does not reveal which emails exist.
      const good = await verifyPassword(String(password ?? ''), r?.password_hash ?? DUMMY_HASH);
      return r && r.password_hash && good ? ok(toUser(r)) : err('BAD_CREDENTIALS', 'Wrong email or password.');
    },

    async get(userId: string): Promise<MerchantUser | null> {
      if (!/^\d{1,19}$/.test(userId)) return null;
      const r = (await db.query(`SELECT * FROM merchant_users WHERE id = $1`, [userId])).rows[0];
      return r ? toUser(r) : null;
    },

    async contactEmails(q: Queryable, merchantId: string): Promise<string[]> {
      return (
        await q.query(`SELECT email FROM merchant_users WHERE merchant_id = $1 ORDER BY id`, [merchantId])
      ).rows.map((r) => r.email);
    },
  };
}

export type MerchantUsers = ReturnType<typeof createMerchantUsers>;
