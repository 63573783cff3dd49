import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { randomAlnum } from '../platform/crypto.ts';
import { SubmitSplit } from '../pay/profitsharing/schemas.ts';
import type { ProfitSharingService, Split } from '../pay/profitsharing/service.ts';
import { displayAmount } from '../web/amount.ts';
import { html } from '../web/html.ts';
import { dataTable } from '../web/layout.ts';
import { formText } from '../web/page.ts';
import { featurePages } from './feature-gate.ts';
import type { DashboardCtx, DashboardPages } from './pages.ts';
import { BASE, card, flashBox, hidden, time, type Flash, type ViewCtx } from './views.ts';

const AccountForm = z.object({ account: formText });
const SplitForm = z.object({
  merchantRequestId: formText,
  prepayId: formText,
  account: formText,
  amount: formText,
  description: formText,
});

type SplitFlash = Flash & { form?: z.infer<typeof SplitForm> };
const DETAIL_STATUS: Record<number, string> = { 1: 'PROCESSING', 2: 'SUCCESS', 3: 'FAIL' };

/** Receivers (add, remove) and splits (a new one to one receiver, the latest with their details). */
function profitSharingView(
  ctx: ViewCtx,
  d: { receivers: { account: string; createdAt: number }[]; splits: Split[]; requestId: string },
  flash?: SplitFlash,
) {
  const f = flash?.form ?? {};
  const option = (value: string, selected?: string) =>
    html`<option value="${value}"${value === selected ? html` selected` : ''}>${value}</option>`;
  return html`${flashBox(flash)}
    ${card(html`<h1>Profit sharing</h1>
      <p class="muted">Share part of a paid order (created with orderTags.ifProfitSharing) with registered receivers;
        the money moves from your funding wallet to theirs at once.</p>
      <h2>Receivers</h2>
      ${
        d.receivers.length === 0
          ? html`<p class="muted" id="no-receivers">No receivers yet.</p>`
          : dataTable({
              id: 'receivers',
              rows: d.receivers,
              columns: [
                { label: 'Binance ID', cell: (r) => r.account, cls: 'mono' },
                { label: 'Added', cell: (r) => time(r.createdAt) },
                {
                  label: '',
                  cell: (r) => html`<form method="post" class="inline" action="${BASE}/profit-sharing/receivers/remove">
                    ${hidden(ctx.csrf)}<input type="hidden" name="account" value="${r.account}">
                    <button class="btn secondary" type="submit">Remove</button></form>`,
                },
              ],
            })
      }
      <form method="post" action="${BASE}/profit-sharing/receivers" id="receiver-form">${hidden(ctx.csrf)}
        <label for="account">Receiver's Binance ID</label>
        <input id="account" type="text" inputmode="numeric" name="account" required>
        <button class="btn secondary" type="submit">Add receiver</button></form>`)}
    ${card(html`<h2>New split</h2>
      ${
        d.receivers.length === 0
          ? html`<p class="muted">Add a receiver first.</p>`
          : html`<form method="post" action="${BASE}/profit-sharing/splits" id="split-form">${hidden(ctx.csrf)}
        <input type="hidden" name="merchantRequestId" value="${d.requestId}">
        <label for="prepayId">Order (prepayId)</label><input id="prepayId" type="text" inputmode="numeric"
          name="prepayId" value="${f.prepayId ?? ''}" required>
        <div class="grid2">
          <div><label for="split-account">Receiver</label><select id="split-account" name="account">
            ${d.receivers.map((r) => option(r.account, f.account))}</select></div>
          <div><label for="amount">Amount (order currency)</label><input id="amount" type="text"
            inputmode="decimal" name="amount" value="${f.amount ?? ''}" placeholder="0.00" required></div>
        </div>
        <label for="description">Description</label><input id="description" type="text" name="description"
          value="${f.description ?? ''}" maxlength="128" required>
        <button class="btn" type="submit">Split</button></form>`
      }`)}
    ${card(html`<h2>Latest splits</h2>
      ${
        d.splits.length === 0
          ? html`<p class="muted" id="no-splits">No splits yet.</p>`
          : dataTable({
              id: 'splits',
              rows: d.splits.flatMap((s) => s.details.map((detail) => ({ s, detail }))),
              columns: [
                { label: 'Time', cell: ({ s }) => time(s.createdAt) },
                { label: 'Order', cell: ({ s }) => s.prepayOrderId, cls: 'mono small' },
                { label: 'Receiver', cell: ({ detail }) => detail.account, cls: 'mono' },
                { label: 'Amount', cell: ({ s, detail }) => displayAmount(detail.amount, s.currency) },
                {
                  label: 'Status',
                  cell: ({ detail }) =>
                    html`<span class="${detail.status === 2 ? 'ok' : 'bad'} nowrap">${
                      DETAIL_STATUS[detail.status] ?? detail.status
                    }</span>${detail.failReason ? html` <span class="muted small">${detail.failReason}</span>` : ''}`,
                },
              ],
            })
      }`)}`;
}

/**
 * Profit sharing (binance-pay-extended.md §16): receivers and splits, through the same service as
 * /profitsharing/v1/*. A split form carries its merchantRequestId drawn with the page, so a form sent twice is one
 * split.
 */
export function profitSharingPages(deps: {
  profitSharing: ProfitSharingService;
  /** The merchant has feature `profitSharing` (§9.1): else every page and form answers 403 and changes nothing. */
  enabled: (ctx: DashboardCtx) => boolean;
}) {
  return (all: DashboardPages) => {
    const pages = featurePages(all, {
      enabled: deps.enabled,
      title: 'Profit sharing',
      id: 'profit-sharing-off',
      sentence: 'Profit sharing is not enabled for this account.',
    });
    async function show(reply: FastifyReply, ctx: DashboardCtx, flash?: SplitFlash, status = 200) {
      const id = String(ctx.merchant.merchantId);
      const [receivers, splits] = await Promise.all([
        deps.profitSharing.receivers(id),
        deps.profitSharing.recentSplits(id),
      ]);
      const requestId = flash?.error && flash.form?.merchantRequestId ? flash.form.merchantRequestId : randomAlnum(32);
      return pages.frame(
        reply,
        'Profit sharing',
        profitSharingView(ctx, { receivers, splits, requestId }, flash),
        ctx,
        status,
      );
    }
    const actor = (ctx: DashboardCtx) => {
      const id = String(ctx.merchant.merchantId);
      return { merchantId: id, creatorMerchantId: id };
    };

    pages.get('/profit-sharing', async (_req, reply, ctx) => show(reply, ctx));

    pages.postForm(
      '/profit-sharing/receivers',
      AccountForm,
      async (_req, reply, ctx, error) => show(reply, ctx, { error }, 400),
      async (_req, reply, ctx, form) => {
        const account = (form.account ?? '').trim();
        if (!/^\d{1,19}$/.test(account)) return show(reply, ctx, { error: 'A Binance ID is a number.' }, 400);
        const r = await deps.profitSharing.addReceiver(actor(ctx), account);
        if (!r.ok)
          return show(
            reply,
            ctx,
            { error: r.code === 'ACCOUNT_NOT_FOUND' ? `No account ${account}.` : (r.message ?? r.code) },
            400,
          );
        return show(reply, ctx, { ok: `Receiver ${account} added.` });
      },
    );

    pages.postForm(
      '/profit-sharing/receivers/remove',
      AccountForm,
      async (_req, reply, ctx, error) => show(reply, ctx, { error }, 400),
      async (_req, reply, ctx, form) => {
        const account = (form.account ?? '').trim();
        const r = await deps.profitSharing.delReceiver(String(ctx.merchant.merchantId), account);
        if (!r.ok) return show(reply, ctx, { error: r.message ?? r.code }, 400);
        return show(reply, ctx, { ok: `Receiver ${account} removed; past splits are unchanged.` });
      },
    );

    pages.postForm(
      '/profit-sharing/splits',
      SplitForm,
      async (_req, reply, ctx, error) => show(reply, ctx, { error }, 400),
      async (_req, reply, ctx, form) => {
        const parsed = SubmitSplit.safeParse({
          merchantRequestId: form.merchantRequestId,
          prepayOrderId: (form.prepayId ?? '').trim(),
          receiverList: [
            {
              account: form.account,
              amount: (form.amount ?? '').trim(),
              description: (form.description ?? '').trim(),
            },
          ],
        });
        if (!parsed.success) {
          const issue = parsed.error.issues[0]!;
          const field = String(issue.path.at(-1) ?? '');
          const error =
            field === 'amount'
              ? 'Enter an amount above 0 with at most 8 decimals.'
              : field === 'description'
                ? 'Describe the split: letters, digits, spaces and , / . only (at most 128).'
                : field === 'prepayOrderId'
                  ? 'Enter the order’s prepayId.'
                  : `${field}: ${issue.message}`;
          return show(reply, ctx, { error, form }, 400);
        }
        const r = await deps.profitSharing.submitSplit(actor(ctx), parsed.data);
        if (!r.ok) {
          const error =
            r.code === 'ORDER_NOT_FOUND'
              ? 'No such order.'
              : r.code === 'INVALID_ORDER_STATUS'
                ? 'Only a paid order can be split.'
                : (r.message ?? r.code);
          return show(reply, ctx, { error, form }, 400);
        }
        const detail = r.value.details[0]!;
        if (detail.status !== 2) return show(reply, ctx, { error: `Split not paid: ${detail.failReason}.` }, 409);
        return show(reply, ctx, {
          ok: `Split ${displayAmount(detail.amount, r.value.currency)} to ${detail.account}.`,
        });
      },
    );
  };
}
