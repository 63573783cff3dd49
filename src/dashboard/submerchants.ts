import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { SubMerchantAdd, SubMerchantModify } from '../pay/submerchants/schemas.ts';
import type { SubMerchant, SubMerchantService } from '../pay/submerchants/service.ts';
import { fieldPath } from '../platform/validation.ts';
import { formText } from '../web/page.ts';
import { param, type DashboardCtx, type DashboardPages } from './pages.ts';
import { subMerchantFormView, subMerchantsView, type SubMerchantFields } from './submerchant-views.ts';

const DATE_FIELDS = ['incorporationDate', 'certificateValidDate', 'contractTimeIsv'] as const;
const TEXT_FIELDS = [
  'merchantName',
  'storeType',
  'merchantMcc',
  'merchantType',
  'country',
  'siteUrl',
  'address',
  'payIndustryDescription',
  'brandLogo',
  'companyName',
  'registrationNumber',
  'registrationCountry',
  'registrationAddress',
  'certificateType',
  'certificateCountry',
  'certificateNumber',
  'blockPayerKycCountries',
] as const;
const ProfileForm = z.object(Object.fromEntries([...TEXT_FIELDS, ...DATE_FIELDS].map((f) => [f, formText])));

/** The form's fields as the API's wire shape: blanks absent, dates (yyyy-mm-dd, UTC) as ms, countries as a list. */
function wireOf(form: SubMerchantFields): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of TEXT_FIELDS) {
    const v = (form[f] ?? '').trim();
    if (v === '') continue;
    out[f] =
      f === 'blockPayerKycCountries'
        ? v
            .split(/[\s,]+/)
            .filter(Boolean)
            .map((c) => c.toUpperCase())
        : f === 'country' || f.endsWith('Country')
          ? v.toUpperCase()
          : v;
  }
  for (const f of DATE_FIELDS) {
    const v = (form[f] ?? '').trim();
    if (v !== '') out[f] = /^\d{4}-\d{2}-\d{2}$/.test(v) ? String(Date.parse(`${v}T00:00:00Z`)) : v;
  }
  return out;
}

/** The form's labels (submerchant-views.ts) of the fields an API message names. */
const LABELS: Record<string, string> = {
  merchantName: 'Business name',
  storeType: 'Where it sells',
  merchantMcc: 'Industry (MCC)',
  siteUrl: 'Website or app store URL',
  address: 'Store address',
  payIndustryDescription: 'Industry description',
  country: 'Countries of operation',
  brandLogo: 'Logo URL',
  merchantType: 'Legal form',
  companyName: 'Company name',
  registrationNumber: 'Registration number',
  registrationCountry: 'Registration country',
  registrationAddress: 'Registered address',
  incorporationDate: 'Incorporation date',
  certificateType: 'Document',
  certificateCountry: 'Issuing country',
  certificateNumber: 'Document number',
  certificateValidDate: 'Valid until',
  blockPayerKycCountries: 'Refuse payers from these countries',
  contractTimeIsv: 'Contract date',
};
const labelled = (field: string) => LABELS[field.split(/[.[]/)[0]!] ?? field;

/** The first issue of the API's own schema, said for a person: the field's label and what it needs. */
const issueText = (e: z.ZodError) => {
  const i = e.issues[0]!;
  return `${labelled(fieldPath(i.path)) || 'Form'} (${fieldPath(i.path)}): ${i.message}`;
};
/** A service message `field: reason` with the field's label in front. */
const serviceText = (message: string) => {
  const m = /^(\w+): (.*)$/.exec(message);
  return m ? `${labelled(m[1]!)} (${m[1]}): ${m[2]}` : message;
};

/**
 * Sub-merchants (binance-pay-extended.md §12), for merchants with the channelPartner feature: the list, add, edit
 * and disable. The forms go through the /submerchant/add and /submerchant/modify schemas and service. Decision: the
 * partner may disable its own sub-merchant; re-enabling is the operator's (POST /admin/v1/submerchants/{id}/status),
 * so a sub-merchant the operator disabled cannot be switched back on from here.
 */
export function subMerchantPages(deps: {
  subMerchants: SubMerchantService;
  isPartner: (ctx: DashboardCtx) => boolean;
}) {
  return (pages: DashboardPages) => {
    const notPartner = (reply: FastifyReply, ctx: DashboardCtx) =>
      pages.frame(reply, 'Sub-merchants', subMerchantsView(ctx, [], { partner: false }), ctx, 403);

    async function list(reply: FastifyReply, ctx: DashboardCtx, flash?: { ok?: string; error?: string }, status = 200) {
      const all = await deps.subMerchants.list(String(ctx.merchant.merchantId));
      return pages.frame(reply, 'Sub-merchants', subMerchantsView(ctx, all, { partner: true, ...flash }), ctx, status);
    }
    const form = (
      reply: FastifyReply,
      ctx: DashboardCtx,
      fields: SubMerchantFields,
      existing: SubMerchant | null,
      error?: string,
    ) =>
      pages.frame(
        reply,
        existing ? `Edit ${existing.profile.merchantName}` : 'Add a sub-merchant',
        subMerchantFormView(ctx, fields, existing, error),
        ctx,
        error ? 400 : 200,
      );
    const owned = async (ctx: DashboardCtx, id: string) => {
      const r = await deps.subMerchants.get(String(ctx.merchant.merchantId), id);
      return r.ok ? r.value : null;
    };

    pages.get('/sub-merchants', async (_req, reply, ctx) =>
      deps.isPartner(ctx) ? list(reply, ctx) : notPartner(reply, ctx),
    );
    pages.get('/sub-merchants/new', async (_req, reply, ctx) =>
      deps.isPartner(ctx) ? form(reply, ctx, { storeType: '0', country: 'GO' }, null) : notPartner(reply, ctx),
    );
    pages.postForm(
      '/sub-merchants',
      ProfileForm,
      async (_req, reply, ctx, error) => form(reply, ctx, {}, null, error),
      async (_req, reply, ctx, fields) => {
        if (!deps.isPartner(ctx)) return notPartner(reply, ctx);
        const parsed = SubMerchantAdd.safeParse(wireOf(fields));
        if (!parsed.success) return form(reply, ctx, fields, null, issueText(parsed.error));
        const r = await deps.subMerchants.add(String(ctx.merchant.merchantId), parsed.data);
        if (!r.ok) return form(reply, ctx, fields, null, serviceText(r.message ?? r.code));
        return list(reply, ctx, {
          ok: `Added ${r.value.profile.merchantName} (sub-merchant ID ${r.value.subMerchantId}).`,
        });
      },
    );

    pages.get('/sub-merchants/:id', async (req, reply, ctx) => {
      if (!deps.isPartner(ctx)) return notPartner(reply, ctx);
      const s = await owned(ctx, param(req, 'id'));
      if (!s) return pages.notFound(reply, ctx);
      return form(reply, ctx, fieldsOf(s), s);
    });
    pages.postForm(
      '/sub-merchants/:id',
      ProfileForm,
      async (req, reply, ctx, error) => form(reply, ctx, {}, await owned(ctx, param(req, 'id')), error),
      async (req, reply, ctx, fields) => {
        if (!deps.isPartner(ctx)) return notPartner(reply, ctx);
        const s = await owned(ctx, param(req, 'id'));
        if (!s) return pages.notFound(reply, ctx);
        if (s.status !== 'ACTIVE') return form(reply, ctx, fields, s, 'A disabled sub-merchant cannot be changed.');
        // Every optional field not filled in is cleared (null), as the page shows the whole record.
        const wire: Record<string, unknown> = { subMerchantId: s.subMerchantId };
        for (const f of [...TEXT_FIELDS, ...DATE_FIELDS]) wire[f] = null;
        const parsed = SubMerchantModify.safeParse({ ...wire, ...wireOf(fields) });
        if (!parsed.success) return form(reply, ctx, fields, s, issueText(parsed.error));
        const r = await deps.subMerchants.modify(String(ctx.merchant.merchantId), parsed.data);
        if (!r.ok) return form(reply, ctx, fields, s, serviceText(r.message ?? r.code));
        return list(reply, ctx, { ok: `Saved ${r.value.profile.merchantName}.` });
      },
    );
    pages.post('/sub-merchants/:id/disable', async (req, reply, ctx) => {
      if (!deps.isPartner(ctx)) return notPartner(reply, ctx);
      const s = await owned(ctx, param(req, 'id'));
      if (!s) return pages.notFound(reply, ctx);
      if (s.status === 'DISABLED')
        return list(reply, ctx, { error: `${s.profile.merchantName} is already disabled.` }, 409);
      await deps.subMerchants.setStatus(s.subMerchantId, 'DISABLED');
      return list(reply, ctx, {
        ok: `${s.profile.merchantName} is disabled: its id is refused on new orders and payouts.`,
      });
    });
  };
}

/** A stored profile as the form's text fields (dates back to yyyy-mm-dd). */
function fieldsOf(s: SubMerchant): SubMerchantFields {
  const p = s.profile as Record<string, unknown>;
  const out: SubMerchantFields = {};
  for (const f of TEXT_FIELDS) {
    const v = p[f];
    if (v !== undefined && v !== null) out[f] = Array.isArray(v) ? v.join(',') : String(v);
  }
  for (const f of DATE_FIELDS) {
    const v = p[f];
    if (v !== undefined && v !== null) out[f] = new Date(Number(v)).toISOString().slice(0, 10);
  }
  return out;
}
