import type { Clock } from '../platform/clock.ts';
import { hashPassword, randomAlnum, verifyPassword, type SecretBox } from '../platform/crypto.ts';
import type { Db, DbRow } from '../platform/db/client.ts';
import { err, ok, type Result } from '../platform/errors.ts';
import type { IdGenerator } from '../platform/ids.ts';
import { newTotpSecret, otpauthUri, totpMatch } from '../platform/totp.ts';

/**
 * Operator accounts for the console: e-mail, password and an authenticator app (TOTP), with a role. An `admin` does
 * everything the admin token can; a `reviewer` sees only the KYC review queue. Created by the admin API
 * (`npx rampart operator create`), which shows the first password and the authenticator secret once.
 */
export const OPERATOR_ROLES = ['admin', 'reviewer'] as const;
export type OperatorRole = (typeof OPERATOR_ROLES)[number];

export interface Operator {
  id: string;
  email: string;
  role: OperatorRole;
  createdAt: number;
  disabledAt: number | null;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const DUMMY_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';
export const ISSUER = 'Rampart';

type OperatorError = 'INVALID_INPUT' | 'EMAIL_TAKEN' | 'BAD_CREDENTIALS' | 'NOT_FOUND';

const toOperator = (r: DbRow): Operator => ({
  id: String(r.id),
  email: r.email,
  role: r.role,
  createdAt: Number(r.created_at),
  disabledAt: r.disabled_at === null ? null : Number(r.disabled_at),
});

export function createOperators(deps: { db: Db; clock: Clock; ids: IdGenerator; box: SecretBox }) {
  const { db, clock, ids, box } = deps;
  return {
    /** A new operator; the password and the authenticator secret are returned this once and stored only sealed. */
    async create(email: string, role: OperatorRole) {
      const e = email.trim().toLowerCase();
      if (!EMAIL.test(e) || e.length > 254) return err<OperatorError>('INVALID_INPUT', 'a valid email is required');
      const password = randomAlnum(20);
      const totpSecret = newTotpSecret();
      const r = await db.query(
        `INSERT INTO operator_users (id, email, password_hash, totp_secret_sealed, role, created_at)
          VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (email) DO NOTHING RETURNING *`,
        [ids.next(), e, await hashPassword(password), box.seal(totpSecret), role, clock.now()],
      );
      if (r.rows.length === 0) return err<OperatorError>('EMAIL_TAKEN', 'an operator with this email exists');
      return ok({
        operator: toOperator(r.rows[0]),
        password,
        totpSecret,
        otpauthUri: otpauthUri(ISSUER, e, totpSecret),
      });
    },

    /**
     * E-mail, password and the authenticator's current code. The code's step is recorded with a conditional update,
     * so the same code (or an older one) never logs in twice. The time is the wall clock, as the authenticator's is.
     */
    async authenticate(email: unknown, password: unknown, code: unknown): Promise<Result<Operator, OperatorError>> {
      const e = typeof email === 'string' ? email.trim().toLowerCase() : '';
      const r = (await db.query(`SELECT * FROM operator_users WHERE email = $1`, [e])).rows[0];
      // Hash even for unknown e-mails so the response time does not tell which exist.
      const good = await verifyPassword(String(password ?? ''), r?.password_hash ?? DUMMY_HASH);
      const bad = err<OperatorError>('BAD_CREDENTIALS', 'Wrong e-mail, password or code.');
      if (!r || !good || r.disabled_at !== null) return bad;
      const step = totpMatch(box.open(r.totp_secret_sealed), String(code ?? '').trim(), Date.now());
      if (step === null) return bad;
      const used = await db.query(
        `UPDATE operator_users SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2 RETURNING id`,
        [r.id, step],
      );
      return used.rows.length === 1 ? ok(toOperator(r)) : bad;
    },

    async get(id: string): Promise<Operator | null> {
      if (!/^\d{1,19}$/.test(id)) return null;
      const r = (await db.query(`SELECT * FROM operator_users WHERE id = $1`, [id])).rows[0];
      return r ? toOperator(r) : null;
    },

    async list(): Promise<Operator[]> {
      return (await db.query(`SELECT * FROM operator_users ORDER BY created_at, id`)).rows.map(toOperator);
    },

    /** Disabling ends the operator's logins; their open console sessions end at their next request. */
    async setDisabled(id: string, disabled: boolean): Promise<Result<Operator, OperatorError>> {
      const r = (
        await db.query(`UPDATE operator_users SET disabled_at = $2 WHERE id = $1 RETURNING *`, [
          id,
          disabled ? clock.now() : null,
        ])
      ).rows[0];
      return r ? ok(toOperator(r)) : err<OperatorError>('NOT_FOUND', 'no such operator');
    },
  };
}
export type Operators = ReturnType<typeof createOperators>;
