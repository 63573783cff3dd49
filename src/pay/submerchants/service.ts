import type { AccountsService } from '../../accounts/service.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Db, DbRow, Queryable } from '../../platform/db/client.ts';
import { err, errorField, ok, type Result } from '../../platform/errors.ts';
import type { PayDomainError } from '../codes.ts';
import { featureEnabled, type Mode } from '../features.ts';
import { fitsInt8 } from '../validation.ts';
import {
  conditionalMessage,
  missingConditional,
  OPTIONAL_FIELDS,
  type Profile,
  type SubMerchantModify,
} from './schemas.ts';

/**
 * A channel partner's sub-merchants (binance-pay-extended.md §12): the businesses it serves, each a label on the
 * partner's orders (they own no balances, §9.2, §12.5). Names are unique per partner, case-insensitively (a unique
 * index on lower(name), so two racing creates cannot both win). Status ACTIVE at creation; the operator may set
 * DISABLED, after which the id is refused (400206) wherever it is used.
 */
type SubMerchantStatus = 'ACTIVE' | 'DISABLED';
export const SUB_MERCHANT_STATUSES: readonly SubMerchantStatus[] = ['ACTIVE', 'DISABLED'];

export interface SubMerchant {
  subMerchantId: string;
  merchantId: string;
  status: SubMerchantStatus;
  profile: Profile;
}

type SubMerchantError = Extract<
  PayDomainError,
  'FIELD_MISSING' | 'FIELD_VALUE' | 'SUB_MERCHANT_INVALID' | 'SUB_MERCHANT_EXISTS'
>;

/** What the checkout shows and enforces for a tagged order (§12.5). */
interface SubMerchantFace {
  merchantName: string;
  brandLogo: string | null;
  blockPayerKycCountries: string[];
}

const toSubMerchant = (r: DbRow): SubMerchant => ({
  subMerchantId: String(r.id),
  merchantId: String(r.merchant_id),
  status: r.status,
  profile: r.profile,
});

/** A request's id that can name a row (digits within int8); any other is simply no sub-merchant. */
const storable = (id: string) => /^\d{1,19}$/.test(id) && fitsInt8(id);
const EXISTS = 'Sub-merchant already exists.';

export function createSubMerchantService(deps: { db: Db; clock: Clock; accounts: AccountsService; mode: Mode }) {
  const { db, clock } = deps;

  async function byId(q: Queryable, merchantId: string, id: string, lock = false) {
    if (!storable(id)) return null;
    const r = await q.query(
      `SELECT * FROM pay_sub_merchants WHERE id = $1 AND merchant_id = $2${lock ? ' FOR UPDATE' : ''}`,
      [id, merchantId],
    );
    return r.rows[0] ? toSubMerchant(r.rows[0]) : null;
  }

  const service = {
    async add(merchantId: string, profile: Profile): Promise<Result<SubMerchant, SubMerchantError>> {
      const now = clock.now();
      const r = await db.query(
        `INSERT INTO pay_sub_merchants (merchant_id, merchant_name, profile, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $4) ON CONFLICT (merchant_id, lower(merchant_name)) DO NOTHING RETURNING *`,
        [merchantId, profile.merchantName, JSON.stringify(profile), now],
      );
      return r.rows[0] ? ok(toSubMerchant(r.rows[0])) : err('SUB_MERCHANT_EXISTS', EXISTS);
    },

    /**
     * Modify (§12.2): a field present replaces the stored value, an absent one is kept, null clears it; the
     * conditionals are checked on the merged record.
     */
    async modify(merchantId: string, input: SubMerchantModify): Promise<Result<SubMerchant, SubMerchantError>> {
      try {
        return await db.tx(async (q) => {
          const current = await byId(q, merchantId, input.subMerchantId, true);
          if (!current || current.status !== 'ACTIVE') return err('SUB_MERCHANT_INVALID');
          const merged: Record<string, unknown> = {
            ...current.profile,
            merchantName: input.merchantName,
            storeType: input.storeType,
            merchantMcc: input.merchantMcc,
          };
          for (const f of OPTIONAL_FIELDS) {
            const v = input[f];
            if (v === null) delete merged[f];
            else if (v !== undefined) merged[f] = v;
          }
          merged.country ??= 'GO'; // cleared: the default, as on create
          const profile = merged as Profile;
          const missing = missingConditional(profile);
          if (missing) return err('FIELD_MISSING', conditionalMessage(missing));
          const taken = await q.query(
            `SELECT 1 FROM pay_sub_merchants WHERE merchant_id = $1 AND lower(merchant_name) = lower($2) AND id <> $3`,
            [merchantId, profile.merchantName, current.subMerchantId],
          );
          if (taken.rowCount > 0) return err('SUB_MERCHANT_EXISTS', EXISTS);
          const r = await q.query(
            `UPDATE pay_sub_merchants SET merchant_name = $2, profile = $3, updated_at = $4 WHERE id = $1 RETURNING *`,
            [current.subMerchantId, profile.merchantName, JSON.stringify(profile), clock.now()],
          );
          return ok(toSubMerchant(r.rows[0]));
        });
      } catch (e) {
        // A rename racing another onto the same name: the unique index decides.
        if (errorField(e, 'code') === '23505') return err('SUB_MERCHANT_EXISTS', EXISTS);
        throw e;
      }
    },

    /** By id (§12.3): unknown → 400102. */
    async get(merchantId: string, id: string): Promise<Result<SubMerchant, SubMerchantError>> {
      const s = await byId(db, merchantId, id);
      return s ? ok(s) : err('FIELD_VALUE', 'subMerchantId: no such sub-merchant');
    },

    /** The merchant's sub-merchants by name (the dashboard's list). */
    async list(merchantId: string): Promise<SubMerchant[]> {
      const r = await db.query(`SELECT * FROM pay_sub_merchants WHERE merchant_id = $1 ORDER BY lower(merchant_name)`, [
        merchantId,
      ]);
      return r.rows.map(toSubMerchant);
    },

    /** By name (§12.3), case-insensitively among the caller's: null when the name is free. */
    async findByName(merchantId: string, name: string): Promise<SubMerchant | null> {
      const r = await db.query(
        `SELECT * FROM pay_sub_merchants WHERE merchant_id = $1 AND lower(merchant_name) = lower($2)`,
        [merchantId, name],
      );
      return r.rows[0] ? toSubMerchant(r.rows[0]) : null;
    },

    /** The operator's switch (§12.5, §18.5); null when there is no such sub-merchant. */
    async setStatus(id: string, status: SubMerchantStatus): Promise<SubMerchant | null> {
      if (!storable(id)) return null;
      const r = await db.query(`UPDATE pay_sub_merchants SET status = $2, updated_at = $3 WHERE id = $1 RETURNING *`, [
        id,
        status,
        clock.now(),
      ]);
      return r.rows[0] ? toSubMerchant(r.rows[0]) : null;
    },
  };

  async function isPartner(merchantId: string) {
    const features = await deps.accounts.merchantFeatures(merchantId);
    return !!features && featureEnabled({ features }, 'channelPartner', deps.mode);
  }

  /** The answer to the other areas (orders, payouts, checkout): may this merchant tag its object with this id? */
  const directory = {
    async isActive(q: Queryable, merchantId: string, subMerchantId: string): Promise<boolean> {
      if (!storable(subMerchantId)) return false;
      const r = await q.query(
        `SELECT 1 FROM pay_sub_merchants WHERE id = $1 AND merchant_id = $2 AND status = 'ACTIVE'`,
        [subMerchantId, merchantId],
      );
      return r.rowCount > 0;
    },

    /**
     * The tag of a new order (§12.4): a channel partner must send one (missing → FIELD_MISSING, named by `field`),
     * and it must be its own ACTIVE sub-merchant; a merchant that is not a partner may not send one (Decision: 400206).
     * Returns the id to store, or null.
     */
    async orderTag(
      merchantId: string,
      subMerchantId: string | null | undefined,
      field: string,
    ): Promise<Result<string | null, 'FIELD_MISSING' | 'SUB_MERCHANT_INVALID'>> {
      const partner = await isPartner(merchantId);
      if (subMerchantId == null) {
        if (!partner) return ok(null);
        return err('FIELD_MISSING', `${field}: required when the merchant is a channel partner`);
      }
      if (!partner || !(await directory.isActive(db, merchantId, subMerchantId))) return err('SUB_MERCHANT_INVALID');
      return ok(subMerchantId);
    },

    /** May the merchant name this sub-merchant on a query or close (V1, §12.4)? A partner's own ACTIVE one only. */
    async usable(merchantId: string, subMerchantId: string): Promise<boolean> {
      return (await isPartner(merchantId)) && (await directory.isActive(db, merchantId, subMerchantId));
    },

    /** The name, logo and blocked payer countries the checkout uses for an order tagged with this id (§12.5). */
    async face(q: Queryable, merchantId: string, subMerchantId: string): Promise<SubMerchantFace | null> {
      const s = await byId(q, merchantId, subMerchantId);
      if (!s) return null;
      return {
        merchantName: s.profile.merchantName,
        brandLogo: s.profile.brandLogo ?? null,
        blockPayerKycCountries: s.profile.blockPayerKycCountries ?? [],
      };
    },
  };

  return { ...service, directory };
}

export type SubMerchantService = ReturnType<typeof createSubMerchantService>;
export type SubMerchantOrderDirectory = SubMerchantService['directory'];
