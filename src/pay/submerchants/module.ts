import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { adminError, adminGuard } from '../../platform/admin-auth.ts';
import { raw } from '../../platform/json.ts';
import { payDomainFailure } from '../codes.ts';
import type { PayExtension, PayExtensionDeps } from '../extension.ts';
import { SubMerchantAdd, SubMerchantModify, SubMerchantQuery, type Profile } from './schemas.ts';
import {
  createSubMerchantService,
  SUB_MERCHANT_STATUSES,
  type SubMerchant,
  type SubMerchantOrderDirectory,
  type SubMerchantService,
} from './service.ts';

/** Fields written as JSON numbers (ints and longs, §12.1); the rest are strings or the country list. */
const NUMERIC = new Set(['storeType', 'merchantType', 'certificateType', 'siteType']);
const LONGS = new Set(['incorporationDate', 'certificateValidDate', 'contractTimeIsv']);
/** The query's fields in §12.3 order (then the older revision's siteType and siteName). */
const QUERY_FIELDS: (keyof Profile)[] = [
  'merchantName',
  'storeType',
  'merchantMcc',
  'merchantType',
  'country',
  'siteUrl',
  'address',
  'payIndustryDescription',
  'subPayMccCode',
  'subPayIndustryDescription',
  'brandLogo',
  'companyName',
  'registrationNumber',
  'registrationCountry',
  'registrationAddress',
  'incorporationDate',
  'certificateType',
  'certificateCountry',
  'certificateNumber',
  'certificateValidDate',
  'contractTimeIsv',
  'blockPayerKycCountries',
  'siteType',
  'siteName',
];

/** A sub-merchant as /submerchant/query answers it: every field as stored (null when unset), id and status. */
function queryView(s: SubMerchant) {
  const out: Record<string, unknown> = { subMerchantId: raw(s.subMerchantId) };
  for (const f of QUERY_FIELDS) {
    const v = s.profile[f];
    out[f] = v === undefined || v === null ? null : NUMERIC.has(f) || LONGS.has(f) ? raw(String(v)) : v;
  }
  out.status = s.status;
  return out;
}

const StatusParams = z.object({ id: z.string().regex(/^\d{1,19}$/) });
const StatusBody = z.object({ status: z.enum(SUB_MERCHANT_STATUSES as ['ACTIVE', 'DISABLED']) });

/**
 * Sub-merchants (binance-pay-extended.md §12): /submerchant/add, /modify, /query for channel partners (feature
 * `channelPartner`, TSP scope CHECKOUT by Decision, §18.2), the operator's status switch, and the directory the other
 * areas ask (orders, payouts, checkout).
 */
export function createSubMerchantModule(
  deps: PayExtensionDeps,
): PayExtension & { directory: SubMerchantOrderDirectory; subMerchants: SubMerchantService } {
  const subMerchants = createSubMerchantService({ ...deps, mode: deps.config.mode });
  const options = { scope: 'CHECKOUT', feature: 'channelPartner' } as const;
  return {
    subMerchants,
    directory: subMerchants.directory,
    payRoutes(route) {
      route(
        { path: '/submerchant/add', summary: 'Create a sub-merchant', schema: SubMerchantAdd, options },
        async (profile, { actor }) => {
          const r = await subMerchants.add(actor.merchantId, profile);
          return r.ok ? { data: { subMerchantId: raw(r.value.subMerchantId) } } : payDomainFailure(r);
        },
      );
      route(
        { path: '/submerchant/modify', summary: 'Modify a sub-merchant', schema: SubMerchantModify, options },
        async (input, { actor }) => {
          const r = await subMerchants.modify(actor.merchantId, input);
          return r.ok ? { data: { subMerchantId: raw(r.value.subMerchantId) } } : payDomainFailure(r);
        },
      );
      route(
        { path: '/submerchant/query', summary: 'Query a sub-merchant', schema: SubMerchantQuery, options },
        async (q, { actor }) => {
          if (q.subMerchantId != null) {
            const r = await subMerchants.get(actor.merchantId, q.subMerchantId);
            return r.ok ? { data: queryView(r.value) } : payDomainFailure(r);
          }
          const s = await subMerchants.findByName(actor.merchantId, q.subMerchantName!);
          return { data: s ? queryView(s) : null };
        },
      );
    },
    routes(app: FastifyInstance) {
      const guard = adminGuard(deps.adminToken);
      app.register(async (r) => {
        r.addHook('onRequest', guard);
        r.post(
          '/admin/v1/submerchants/:id/status',
          {
            schema: {
              tags: ['Admin'],
              security: [{ adminToken: [] }],
              summary: "Set a sub-merchant's status (DISABLED: refused wherever its id is used)",
              params: StatusParams,
              body: StatusBody,
            },
          },
          async (req, reply) => {
            const { id } = req.params as z.infer<typeof StatusParams>;
            const { status } = req.body as z.infer<typeof StatusBody>;
            const s = await subMerchants.setStatus(id, status);
            if (!s) return adminError(reply, 404, 'SUB_MERCHANT_NOT_FOUND');
            return { subMerchantId: s.subMerchantId, merchantId: s.merchantId, status: s.status };
          },
        );
      });
    },
  };
}
