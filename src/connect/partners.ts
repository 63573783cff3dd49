import type { Clock } from '../platform/clock.ts';
import { hashPassword, randomAlnum, randomHex, safeEqual, sha256Hex, verifyPassword } from '../platform/crypto.ts';
import type { Db, Queryable } from '../platform/db/client.ts';
import { DomainError, catchDomain, err, ok, type Result } from '../platform/errors.ts';
import type { IdGenerator } from '../platform/ids.ts';
import { isValidIpOrCidr } from '../platform/ip.ts';
import type { Mailer } from '../platform/mail.ts';
import { Decimal } from '../platform/money.ts';
import type { SigningKeys } from '../platform/signing-keys.ts';
import { parsePartnerPublicKey } from './keys.ts';
import type { DbRow } from '../platform/db/client.ts';

/**
 * Business partners of this environment (binance-connect.md §9): onboarding by the operator, the partner's
 * RSA keys (at most two active: during a rotation the old key keeps verifying until its overlap ends),
 * IP whitelist, redirect domains, webhook URL, quote configuration, and the admin-portal account.
 */
export const PLATFORM_KEY_PURPOSE = 'connect';
const PASSWORD_LINK_TTL_MS = 72 * 3_600_000;
export const DEFAULT_OVERLAP_MS = 24 * 3_600_000;
const MAX_OVERLAP_MS = 30 * 24 * 3_600_000;
const MAX_IPS = 50;
const MAX_DOMAINS = 20;

export interface Partner {
  code: string;
  name: string;
  email: string;
  status: 'ACTIVE' | 'DISABLED';
  ipWhitelist: string[];
  redirectDomains: string[];
  webhookUrl: string | null;
  successCode: string;
  feePct: string;
  minFeeUsd: string;
  spread: string;
  hasPassword: boolean;
  createdAt: number;
  /** Generation 2 (binance-connect-v2.md §13): X-Tesla-ClientId, also the webhook partner code. */
  clientId: string;
  /** Whether an X-Tesla-SignAccessToken has been issued (it is stored only hashed). */
  hasSignToken: boolean;
  /** The §7 customization keys the operator enabled for this partner; others are ignored in pre-order. */
  customizationFlags: string[];
  /** App schemes (e.g. `mywallet`) a gen-2 pre-order's redirect deep links may use. */
  deepLinkSchemes: string[];
}

export interface PartnerKey {
  id: string;
  publicKeyPem: string;
  fingerprint: string;
  bits: number;
  createdAt: number;
  expiresAt: number | null;
}

interface NewPartner {
  name: string;
  email: string;
  publicKey: string;
  ipWhitelist: string[];
  redirectDomains?: string[];
  webhookUrl?: string | null;
  /** Base code; defaults to a slug of the name. The sandbox appends `_test` (§9). */
  code?: string;
  feePct?: string;
  minFeeUsd?: string;
  spread?: string;
  successCode?: '000000' | '000000000';
}

const toPartner = (r: DbRow): Partner => ({
  code: r.code,
  name: r.name,
  email: r.email,
  status: r.status,
  ipWhitelist: r.ip_whitelist,
  redirectDomains: r.redirect_domains,
  webhookUrl: r.webhook_url,
  successCode: r.success_code,
  feePct: new Decimal(r.fee_pct).toFixed(),
  minFeeUsd: new Decimal(r.min_fee_usd).toFixed(),
  spread: new Decimal(r.spread).toFixed(),
  hasPassword: r.password_hash !== null,
  createdAt: Number(r.created_at),
  clientId: r.client_id,
  hasSignToken: r.sign_token_hash !== null,
  customizationFlags: r.customization_flags ?? [],
  deepLinkSchemes: r.deep_link_schemes ?? [],
});
const toKey = (r: DbRow): PartnerKey => ({
  id: String(r.id),
  publicKeyPem: r.public_pem,
  fingerprint: r.fingerprint,
  bits: Number(r.bits),
  createdAt: Number(r.created_at),
  expiresAt: r.expires_at === null ? null : Number(r.expires_at),
});

function validateIpList(list: unknown): Result<string[], 'INVALID_IP'> {
  if (!Array.isArray(list) || list.length === 0)
    return err('INVALID_IP', 'at least one IP address or CIDR range is required');
  if (list.length > MAX_IPS) return err('INVALID_IP', `at most ${MAX_IPS} entries`);
  const out: string[] = [];
  for (const v of list) {
    const s = String(v).trim();
    if (!isValidIpOrCidr(s)) return err('INVALID_IP', `"${s}" is not an IP address or CIDR range`);
    if (!out.includes(s)) out.push(s);
  }
  return ok(out);
}

function validateDomains(list: unknown): Result<string[], 'INVALID_DOMAIN'> {
  if (list === undefined || list === null) return ok([]);
  if (!Array.isArray(list) || list.length > MAX_DOMAINS) return err('INVALID_DOMAIN', `at most ${MAX_DOMAINS} domains`);
  const out: string[] = [];
  for (const v of list) {
    const s = String(v).trim().toLowerCase();
    if (
      !/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(:\d{1,5})?$/.test(s)
    ) {
      return err('INVALID_DOMAIN', `"${s}" is not a host name (give e.g. wallet.example, no scheme or path)`);
    }
    if (!out.includes(s)) out.push(s);
  }
  return ok(out);
}

function validateWebhookUrl(v: unknown): Result<string | null, 'INVALID_WEBHOOK_URL'> {
  if (v === undefined || v === null || v === '') return ok(null);
  try {
    const u = new URL(String(v));
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('scheme');
    if (String(v).length > 512) throw new Error('length');
    return ok(u.toString());
  } catch {
    return err('INVALID_WEBHOOK_URL', 'webhook URL must be an absolute http(s) URL of at most 512 characters');
  }
}

/**
 * Whether a return URL of an order may be used (gen-1 merchantRedirectUrl, gen-2 redirectUrl / failRedirectUrl):
 * https (http too in the sandbox) on one of the partner's registered redirect domains.
 */
export function redirectAllowed(partner: Partner, url: string, mode: 'sandbox' | 'production'): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.protocol !== 'https:' && !(mode === 'sandbox' && u.protocol === 'http:')) return false;
  return (
    partner.redirectDomains.includes(u.host.toLowerCase()) || partner.redirectDomains.includes(u.hostname.toLowerCase())
  );
}

/** §7 keys a partner may have enabled (Rampart honours these; the rest are refused here). */
export const CUSTOMIZATION_KEYS = [
  'LOCK_ORDER_ATTRIBUTES',
  'SKIP_CASHIER',
  'AUTO_REDIRECTION',
  'HIDE_SEND',
  'SEND_PRIMARY',
  'SEND_PRIMARY_FLEXIBLE',
  'MERCHANT_DISPLAY_NAME',
  'NET_RECEIVE',
  'P2P_EXPRESS',
  'OPEN_NETWORK',
  'ON_CHAIN_PROXY_MODE',
] as const;

function validateCustomizationFlags(list: unknown): Result<string[], 'INVALID_CUSTOMIZATION'> {
  if (!Array.isArray(list)) return err('INVALID_CUSTOMIZATION', 'customizationFlags must be an array of flag names');
  const out: string[] = [];
  for (const v of list) {
    const s = String(v).trim().toUpperCase();
    if (!(CUSTOMIZATION_KEYS as readonly string[]).includes(s))
      return err('INVALID_CUSTOMIZATION', `"${s}" is not a customization flag (${CUSTOMIZATION_KEYS.join(', ')})`);
    if (!out.includes(s)) out.push(s);
  }
  return ok(out);
}

function validateSchemes(list: unknown): Result<string[], 'INVALID_SCHEME'> {
  if (list === undefined || list === null) return ok([]);
  if (!Array.isArray(list) || list.length > MAX_DOMAINS) return err('INVALID_SCHEME', `at most ${MAX_DOMAINS} schemes`);
  const out: string[] = [];
  for (const v of list) {
    const s = String(v)
      .trim()
      .toLowerCase()
      .replace(/:(\/\/)?$/, '');
    if (!/^[a-z][a-z0-9+.-]{0,31}$/.test(s) || s === 'http' || s === 'https' || s === 'javascript' || s === 'data')
      return err('INVALID_SCHEME', `"${s}" is not an app scheme (give e.g. mywallet)`);
    if (!out.includes(s)) out.push(s);
  }
  return ok(out);
}

/** 48 characters of [A-Za-z0-9] (§13), shown once, stored as its sha256. */
const newSignToken = () => randomAlnum(48);

const decimalIn = (v: string | undefined, dflt: string, max: string) => {
  const s = v ?? dflt;
  if (!/^\d+(\.\d{1,8})?$/.test(s) || new Decimal(s).gt(max))
    throw new DomainError('INVALID_PARAMETER', `${s} must be a decimal between 0 and ${max}`);
  return s;
};

export function createPartnerService(deps: {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  mailer: Mailer;
  signingKeys: SigningKeys;
  mode: 'sandbox' | 'production';
  publicUrl: string;
}) {
  const { db, clock, ids, mailer, signingKeys, mode, publicUrl } = deps;
  const suffix = mode === 'sandbox' ? '_test' : '';

  async function issuePasswordLink(q: Queryable, p: { code: string; name: string; email: string }, invite: boolean) {
    const token = randomHex(24);
    await q.query(`INSERT INTO connect_password_links (token_hash, partner_code, expires_at) VALUES ($1, $2, $3)`, [
      sha256Hex(token),
      p.code,
      clock.now() + PASSWORD_LINK_TTL_MS,
    ]);
    const link = `${publicUrl}/en/partner/set-password?token=${token}`;
    await mailer.send(q, {
      to: p.email,
      subject: invite
        ? `Your Rampart Connect partner portal account (${p.code})`
        : 'Reset your Rampart Connect partner portal password',
      text:
        `${
          invite
            ? `Welcome, ${p.name}.\n\nYour business partner code in this environment (${
                mode === 'sandbox' ? 'test' : 'production'
              }) is ${p.code}.\n`
            : ''
        }` +
        `Set your portal password here (valid 72 hours):\n${link}\n\nThen log in at ${publicUrl}/en/partner/login ` +
        `with ${p.email}.\n`,
    });
  }

  async function getPartner(code: string, q: Queryable = db): Promise<Partner | null> {
    const r = (await q.query(`SELECT * FROM connect_partners WHERE code = $1`, [code])).rows[0];
    return r ? toPartner(r) : null;
  }

  return {
    async create(input: NewPartner): Promise<
      Result<{
        partner: Partner;
        key: PartnerKey;
        platformPublicKey: string;
        environment: string;
        /** Generation 2's static secret, shown this once. */
        signAccessToken: string;
      }>
    > {
      const key = parsePartnerPublicKey(input.publicKey);
      if (!key.ok) return key;
      const ips = validateIpList(input.ipWhitelist);
      if (!ips.ok) return ips;
      const domains = validateDomains(input.redirectDomains);
      if (!domains.ok) return domains;
      const hook = validateWebhookUrl(input.webhookUrl);
      if (!hook.ok) return hook;
      const email = String(input.email ?? '')
        .trim()
        .toLowerCase();
      if (!/^[^\s@]{1,64}@[^\s@]{1,255}\.[^\s@]{2,}$/.test(email))
        return err('INVALID_EMAIL', 'a valid admin email address is required');
      const name = String(input.name ?? '').trim();
      if (!name || name.length > 128) return err('INVALID_NAME', 'name is required (at most 128 characters)');
      const base =
        (input.code ?? name)
          .toLowerCase()
          .replace(/[^a-z0-9]+/g, '_')
          .replace(/^_+|_+$/g, '')
          .slice(0, 40) || 'partner';
      if (input.code !== undefined && !/^[a-z0-9_]{2,40}$/.test(input.code))
        return err('INVALID_CODE', 'code must be 2-40 characters of a-z, 0-9 and _');
      const platform = await signingKeys.current(PLATFORM_KEY_PURPOSE);
      const signAccessToken = newSignToken();
      const r = await catchDomain(() =>
        db.tx(async (q) => {
          if ((await q.query(`SELECT 1 FROM connect_partners WHERE email = $1`, [email])).rows[0])
            throw new DomainError('EMAIL_TAKEN', `a partner with email ${email} already exists`);
          let code = base + suffix;
          for (let n = 2; (await q.query(`SELECT 1 FROM connect_partners WHERE code = $1`, [code])).rows[0]; n++) {
            if (input.code !== undefined) throw new DomainError('CODE_TAKEN', `code ${code} is already taken`);
            code = `${base}${n}${suffix}`;
          }
          const now = clock.now();
          const row = (
            await q.query(
              `INSERT INTO connect_partners (code, name, email, ip_whitelist, redirect_domains, webhook_url,
                success_code, fee_pct, min_fee_usd, spread, created_at, client_id, sign_token_hash)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING *`,
              [
                code,
                name,
                email,
                JSON.stringify(ips.value),
                JSON.stringify(domains.value),
                hook.value,
                input.successCode ?? '000000',
                decimalIn(input.feePct, '0.0199', '0.5'),
                decimalIn(input.minFeeUsd, '1.99', '1000'),
                decimalIn(input.spread, '0.01', '0.5'),
                now,
                randomHex(16),
                sha256Hex(signAccessToken),
              ],
            )
          ).rows[0];
          const k = (
            await q.query(
              `INSERT INTO connect_partner_keys (id, partner_code, public_pem, fingerprint, bits, created_at)
                VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
              [ids.next(), code, key.value.pem, key.value.fingerprint, key.value.bits, now],
            )
          ).rows[0];
          await issuePasswordLink(q, { code, name, email }, true);
          return { partner: toPartner(row), key: toKey(k) };
        }),
      );
      if (!r.ok) return r;
      return ok({
        ...r.value,
        platformPublicKey: platform.publicKeyPem,
        environment: mode === 'sandbox' ? 'test' : 'production',
        signAccessToken,
      });
    },

    get: getPartner,

    /** Generation 2: the partner whose X-Tesla-ClientId this is. */
    async byClientId(clientId: string): Promise<Partner | null> {
      if (!/^[0-9a-f]{32}$/.test(clientId)) return null;
      const r = (await db.query(`SELECT * FROM connect_partners WHERE client_id = $1`, [clientId])).rows[0];
      return r ? toPartner(r) : null;
    },

    /** Generation 2: whether `token` is the partner's sign access token (hashes compared in constant time). */
    async signTokenMatches(code: string, token: string): Promise<boolean> {
      const r = (await db.query(`SELECT sign_token_hash FROM connect_partners WHERE code = $1`, [code])).rows[0];
      return !!r?.sign_token_hash && safeEqual(sha256Hex(token), r.sign_token_hash);
    },

    /**
     * Issues a new sign access token (generation 2), replacing the old one at once; the token is returned this once.
     */
    async issueSignToken(code: string): Promise<Result<string>> {
      const token = newSignToken();
      const r = await db.query(`UPDATE connect_partners SET sign_token_hash = $2 WHERE code = $1 RETURNING code`, [
        code,
        sha256Hex(token),
      ]);
      return r.rows[0] ? ok(token) : err('PARTNER_NOT_FOUND');
    },

    async list(): Promise<Partner[]> {
      return (await db.query(`SELECT * FROM connect_partners ORDER BY created_at, code`)).rows.map(toPartner);
    },

    /** Keys that verify now: the current one, plus the previous one until its overlap ends. */
    async activeKeys(code: string): Promise<PartnerKey[]> {
      return (
        await db.query(
          `SELECT * FROM connect_partner_keys WHERE partner_code = $1 AND (expires_at IS NULL OR expires_at > $2)
            ORDER BY id DESC`,
          [code, clock.now()],
        )
      ).rows.map(toKey);
    },

    async keys(code: string): Promise<PartnerKey[]> {
      return (
        await db.query(`SELECT * FROM connect_partner_keys WHERE partner_code = $1 ORDER BY id DESC LIMIT 20`, [code])
      ).rows.map(toKey);
    },

    /**
     * Rotation: the new key verifies at once, the keys active until now keep verifying for `overlapMs`, then stop.
     * A rotation while an overlap is still running is refused (at most two active keys, §9).
     */
    async addKey(code: string, pem: string, overlapMs = DEFAULT_OVERLAP_MS): Promise<Result<PartnerKey>> {
      const key = parsePartnerPublicKey(pem);
      if (!key.ok) return key;
      if (!Number.isInteger(overlapMs) || overlapMs < 0 || overlapMs > MAX_OVERLAP_MS)
        return err('INVALID_OVERLAP', `overlap must be between 0 and ${MAX_OVERLAP_MS / 3_600_000} hours`);
      return catchDomain(() =>
        db.tx(async (q) => {
          const now = clock.now();
          const active = (
            await q.query(
              `SELECT * FROM connect_partner_keys WHERE partner_code = $1 AND (expires_at IS NULL OR expires_at > $2)
                FOR UPDATE`,
              [code, now],
            )
          ).rows;
          if (active.some((k) => k.fingerprint === key.value.fingerprint))
            throw new DomainError('KEY_ALREADY_ACTIVE', 'this public key is already active');
          if (active.length >= 2)
            throw new DomainError(
              'TOO_MANY_KEYS',
              'a rotation is already in its overlap period; wait until it ends or revoke the old key first',
            );
          await q.query(
            `UPDATE connect_partner_keys SET expires_at = $3 WHERE partner_code = $1 AND (expires_at IS NULL
              OR expires_at > $2)`,
            [code, now, now + overlapMs],
          );
          const k = (
            await q.query(
              `INSERT INTO connect_partner_keys (id, partner_code, public_pem, fingerprint, bits, created_at)
                VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
              [ids.next(), code, key.value.pem, key.value.fingerprint, key.value.bits, now],
            )
          ).rows[0];
          return toKey(k);
        }),
      );
    },

    /** Ends a key's validity now; the last active key cannot be revoked (the partner would be locked out). */
    async revokeKey(code: string, keyId: string): Promise<Result<true>> {
      return catchDomain(() =>
        db.tx(async (q) => {
          const now = clock.now();
          const active = (
            await q.query(
              `SELECT id FROM connect_partner_keys WHERE partner_code = $1 AND (expires_at IS NULL OR expires_at > $2)
                FOR UPDATE`,
              [code, now],
            )
          ).rows;
          if (!active.some((k) => String(k.id) === keyId)) throw new DomainError('KEY_NOT_FOUND', 'no such active key');
          if (active.length < 2)
            throw new DomainError('LAST_KEY', 'the only active key cannot be revoked; add the new key first');
          await q.query(`UPDATE connect_partner_keys SET expires_at = $3 WHERE partner_code = $1 AND id = $2`, [
            code,
            keyId,
            now,
          ]);
          return true as const;
        }),
      );
    },

    async updateSettings(
      code: string,
      patch: {
        ipWhitelist?: unknown;
        redirectDomains?: unknown;
        webhookUrl?: unknown;
        status?: 'ACTIVE' | 'DISABLED';
        /** The fee model (binance-connect.md §9): percentage of the fiat amount, its USD floor, the quote spread. */
        feePct?: string;
        minFeeUsd?: string;
        spread?: string;
        /** §7 customization keys enabled for the partner (generation 2). */
        customizationFlags?: unknown;
        /** App schemes of gen-2 redirect deep links. */
        deepLinkSchemes?: unknown;
      },
    ): Promise<Result<Partner>> {
      const sets: string[] = [];
      const params: unknown[] = [code];
      const set = (col: string, v: unknown) => {
        params.push(v);
        sets.push(`${col} = $${params.length}`);
      };
      if (patch.ipWhitelist !== undefined) {
        const v = validateIpList(patch.ipWhitelist);
        if (!v.ok) return v;
        set('ip_whitelist', JSON.stringify(v.value));
      }
      if (patch.redirectDomains !== undefined) {
        const v = validateDomains(patch.redirectDomains);
        if (!v.ok) return v;
        set('redirect_domains', JSON.stringify(v.value));
      }
      if (patch.webhookUrl !== undefined) {
        const v = validateWebhookUrl(patch.webhookUrl);
        if (!v.ok) return v;
        set('webhook_url', v.value);
      }
      if (patch.deepLinkSchemes !== undefined) {
        const v = validateSchemes(patch.deepLinkSchemes);
        if (!v.ok) return v;
        set('deep_link_schemes', JSON.stringify(v.value));
      }
      if (patch.customizationFlags !== undefined) {
        const v = validateCustomizationFlags(patch.customizationFlags);
        if (!v.ok) return v;
        set('customization_flags', JSON.stringify(v.value));
      }
      if (patch.status !== undefined) set('status', patch.status);
      const fees = await catchDomain(async () => {
        // The same bounds as at onboarding (create).
        if (patch.feePct !== undefined) set('fee_pct', decimalIn(patch.feePct, '0', '0.5'));
        if (patch.minFeeUsd !== undefined) set('min_fee_usd', decimalIn(patch.minFeeUsd, '0', '1000'));
        if (patch.spread !== undefined) set('spread', decimalIn(patch.spread, '0', '0.5'));
      });
      if (!fees.ok) return fees;
      if (sets.length === 0) {
        const p = await getPartner(code);
        return p ? ok(p) : err('PARTNER_NOT_FOUND');
      }
      const r = (await db.query(`UPDATE connect_partners SET ${sets.join(', ')} WHERE code = $1 RETURNING *`, params))
        .rows[0];
      return r ? ok(toPartner(r)) : err('PARTNER_NOT_FOUND');
    },

    /**
     * Suspends (DISABLED) or reactivates (ACTIVE) a partner, only from the other state: a repeated or stale request
     * changes nothing and says so (PARTNER_STATUS).
     */
    async setStatus(code: string, to: 'ACTIVE' | 'DISABLED'): Promise<Result<Partner>> {
      const r = (
        await db.query(`UPDATE connect_partners SET status = $2 WHERE code = $1 AND status <> $2 RETURNING *`, [
          code,
          to,
        ])
      ).rows[0];
      if (r) return ok(toPartner(r));
      if (!(await getPartner(code))) return err('PARTNER_NOT_FOUND');
      return err(
        'PARTNER_STATUS',
        to === 'DISABLED' ? 'The partner is already suspended.' : 'The partner is already active.',
      );
    },

    async sendPasswordLink(code: string): Promise<Result<true>> {
      const p = await getPartner(code);
      if (!p) return err('PARTNER_NOT_FOUND');
      await db.tx((q) => issuePasswordLink(q, p, false));
      return ok(true);
    },

    /** Uses an emailed link once; the link expires after 72 h. Returns the partner code to log in. */
    async setPassword(token: string, password: string): Promise<Result<string>> {
      if (password.length < 10 || password.length > 128)
        return err('WEAK_PASSWORD', 'the password must be 10 to 128 characters long');
      const hash = await hashPassword(password);
      return catchDomain(() =>
        db.tx(async (q) => {
          const link = (
            await q.query(
              `UPDATE connect_password_links SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL
                AND expires_at > $2 RETURNING partner_code`,
              [sha256Hex(token), clock.now()],
            )
          ).rows[0];
          if (!link) throw new DomainError('INVALID_LINK', 'this link is invalid, used or expired; ask for a new one');
          await q.query(`UPDATE connect_partners SET password_hash = $2 WHERE code = $1`, [link.partner_code, hash]);
          return String(link.partner_code);
        }),
      );
    },

    /**
     * Sets the portal password without a mailed link: only the sandbox demo seed, which writes the password to its
     * credentials file. Partners otherwise choose theirs through setPassword.
     */
    async setPasswordDirectly(code: string, password: string): Promise<Result<true>> {
      if (password.length < 10 || password.length > 128)
        return err('WEAK_PASSWORD', 'the password must be 10 to 128 characters long');
      const r = await db.query(`UPDATE connect_partners SET password_hash = $2 WHERE code = $1 RETURNING code`, [
        code,
        await hashPassword(password),
      ]);
      return r.rows[0] ? ok(true) : err('PARTNER_NOT_FOUND');
    },

    async linkValid(token: string): Promise<boolean> {
      return !!(
        await db.query(
          `SELECT 1 FROM connect_password_links WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2`,
          [sha256Hex(token), clock.now()],
        )
      ).rows[0];
    },

    async login(email: string, password: string): Promise<Partner | null> {
      const r = (
        await db.query(`SELECT * FROM connect_partners WHERE email = $1`, [String(email).trim().toLowerCase()])
      ).rows[0];
      // Same work whether or not the account exists, so timing does not reveal registered emails.
      const stored =
        r?.password_hash ?? 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';
      const good = await verifyPassword(password, stored);
      return r && r.password_hash && good && r.status === 'ACTIVE' ? toPartner(r) : null;
    },
  };
}
export type PartnerService = ReturnType<typeof createPartnerService>;
