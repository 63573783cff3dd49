import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import type { SettlementService } from '../pay/settlement/service.ts';
import type { Clock } from '../platform/clock.ts';
import { randomAlnum } from '../platform/crypto.ts';
import type { Db } from '../platform/db/client.ts';
import type { Ledger } from '../platform/ledger/service.ts';
import { formText } from '../web/page.ts';
import { param, queryOf, type DashboardCtx, type DashboardPages } from './pages.ts';
import {
  confirmCodeView,
  reviewView,
  settlementDetailView,
  settlementView,
  type SettlementForms,
} from './settlement-views.ts';
import { BASE, type Flash } from './views.ts';

const AddForm = z.object({ assetNetwork: formText, address: formText, memo: formText, label: formText });
const CodeForm = z.object({ code: formText });
const WithdrawForm = z.object({ addressId: formText, amount: formText, requestKey: formText });
const AutoForm = z.object({ addressId: formText, mode: formText, threshold: formText, enabled: formText });

/**
 * Settlement: the merchant's whitelisted addresses (added with an e-mailed code, usable after the cooling-off,
 * removed at once), a withdrawal of its available balance reviewed with the network fee before it is confirmed,
 * automatic settlement, and the history with the chain's progress. Every form goes through the settlement service,
 * which checks it again; the confirm carries a request key drawn with the review page, so a confirm sent twice is one
 * withdrawal.
 */
export function settlementPages(deps: { settlement: SettlementService; ledger: Ledger; db: Db; clock: Clock }) {
  const { settlement } = deps;
  return (pages: DashboardPages) => {
    async function show(reply: FastifyReply, ctx: DashboardCtx, flash?: Flash, forms?: SettlementForms, status = 200) {
      const id = String(ctx.merchant.merchantId);
      const [balances, addresses, history, auto] = await Promise.all([
        deps.ledger.balances(deps.db, 'merchant', id),
        settlement.listAddresses(id),
        settlement.history(id),
        settlement.listAuto(id),
      ]);
      const view = settlementView(
        ctx,
        { balances, addresses, history, auto, assetNetworks: settlement.assetNetworks(), now: deps.clock.now() },
        flash,
        forms,
      );
      return pages.frame(reply, 'Settlement', view, ctx, status);
    }
    const merchantOf = (ctx: DashboardCtx) => String(ctx.merchant.merchantId);

    pages.get('/settlement', async (req, reply, ctx) => {
      const q = queryOf(req);
      return show(reply, ctx, q.removed ? { ok: 'Address removed.' } : q.auto ? { ok: 'Saved.' } : undefined);
    });

    pages.postForm(
      '/settlement/addresses',
      AddForm,
      async (_req, reply, ctx, error) => show(reply, ctx, { error }, {}, 400),
      async (_req, reply, ctx, form) => {
        const [asset = '', network = ''] = (form.assetNetwork ?? '').split(':');
        const r = await settlement.addAddress(
          merchantOf(ctx),
          {
            asset,
            network,
            address: (form.address ?? '').trim(),
            memo: (form.memo ?? '').trim(),
            label: form.label ?? '',
          },
          { kind: 'dashboard', userId: ctx.user.userId, email: ctx.user.email },
        );
        if (!r.ok) return show(reply, ctx, { error: r.message ?? r.code }, { add: form }, 400);
        return reply.redirect(`${BASE}/settlement/addresses/${r.value.id}/confirm`);
      },
    );

    pages.get('/settlement/addresses/:id/confirm', async (req, reply, ctx) => {
      const a = await settlement.getAddress(merchantOf(ctx), param(req, 'id'));
      if (!a) return pages.notFound(reply, ctx);
      if (a.status !== 'PENDING_CODE') return reply.redirect(`${BASE}/settlement`);
      return pages.frame(reply, 'Confirm the address', confirmCodeView(ctx, a), ctx);
    });

    pages.postForm(
      '/settlement/addresses/:id/confirm',
      CodeForm,
      async (req, reply, ctx, error) => {
        const a = await settlement.getAddress(merchantOf(ctx), param(req, 'id'));
        if (!a) return pages.notFound(reply, ctx);
        return pages.frame(reply, 'Confirm the address', confirmCodeView(ctx, a, error), ctx, 400);
      },
      async (req, reply, ctx, form) => {
        const id = param(req, 'id');
        const r = await settlement.confirmAddress(merchantOf(ctx), id, (form.code ?? '').trim());
        if (r.ok)
          return show(reply, ctx, {
            ok:
              `Address confirmed. "${r.value.label}" can receive withdrawals from ` +
              `${new Date(r.value.activeAt!).toISOString().replace('T', ' ').slice(0, 16)} UTC (cooling-off).`,
          });
        const a = await settlement.getAddress(merchantOf(ctx), id);
        if (!a) return pages.notFound(reply, ctx);
        // A wrong code may be tried again; an expired, exhausted or already used one sends the person back.
        if (r.code === 'WRONG_CODE')
          return pages.frame(reply, 'Confirm the address', confirmCodeView(ctx, a, r.message), ctx, 400);
        return show(reply, ctx, { error: r.message ?? r.code }, {}, 409);
      },
    );

    pages.post('/settlement/addresses/:id/remove', async (req, reply, ctx) => {
      const r = await settlement.removeAddress(merchantOf(ctx), param(req, 'id'));
      if (!r.ok)
        return show(reply, ctx, { error: 'This address is not on the whitelist (already removed?).' }, {}, 409);
      return reply.redirect(`${BASE}/settlement?removed=1`);
    });

    pages.postForm(
      '/settlement/withdraw/review',
      WithdrawForm,
      async (_req, reply, ctx, error) => show(reply, ctx, { error }, {}, 400),
      async (_req, reply, ctx, form) => {
        const amount = (form.amount ?? '').trim();
        const q = await settlement.quote(merchantOf(ctx), form.addressId ?? '', amount);
        if (!q.ok) return show(reply, ctx, { error: q.message ?? q.code }, { withdraw: { ...form, amount } }, 400);
        // The key of this one withdrawal: the confirm form carries it, so sending it twice makes one withdrawal.
        return pages.frame(reply, 'Confirm the withdrawal', reviewView(ctx, q.value, `D${randomAlnum(31)}`), ctx);
      },
    );

    pages.postForm(
      '/settlement/withdraw/confirm',
      WithdrawForm,
      async (_req, reply, ctx, error) => show(reply, ctx, { error }, {}, 400),
      async (_req, reply, ctx, form) => {
        const requestKey = form.requestKey ?? '';
        if (!/^D[A-Za-z0-9]{31}$/.test(requestKey))
          return show(reply, ctx, { error: 'This form is out of date; review the withdrawal again.' }, {}, 400);
        const r = await settlement.withdraw(merchantOf(ctx), {
          addressId: form.addressId ?? '',
          amount: (form.amount ?? '').trim(),
          requestKey,
          source: 'DASHBOARD',
        });
        if (!r.ok) return show(reply, ctx, { error: r.message ?? r.code }, { withdraw: form }, 409);
        return reply.redirect(`${BASE}/settlement/withdrawals/${r.value.id}?created=1`);
      },
    );

    pages.get('/settlement/withdrawals/:id', async (req, reply, ctx) => {
      const s = await settlement.find(merchantOf(ctx), param(req, 'id'));
      if (!s) return pages.notFound(reply, ctx);
      const created = queryOf(req).created === '1';
      return pages.frame(reply, `Withdrawal ${s.id}`, settlementDetailView(s, created), ctx);
    });

    pages.postForm(
      '/settlement/auto',
      AutoForm,
      async (_req, reply, ctx, error) => show(reply, ctx, { error }, {}, 400),
      async (_req, reply, ctx, form) => {
        const mode = form.mode === 'THRESHOLD' ? 'THRESHOLD' : 'DAILY';
        const r = await settlement.setAuto(merchantOf(ctx), {
          addressId: form.addressId ?? '',
          mode,
          threshold: (form.threshold ?? '').trim() || null,
          enabled: form.enabled !== '0',
        });
        if (!r.ok) return show(reply, ctx, { error: r.message ?? r.code }, { auto: form }, 400);
        return reply.redirect(`${BASE}/settlement?auto=1`);
      },
    );
  };
}
