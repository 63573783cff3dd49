import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { GetQuote } from '../pay/convert/schemas.ts';
import { displayRate, type ConvertOrder, type ConvertService, type Quote } from '../pay/convert/service.ts';
import { MERCHANT_WALLETS } from '../pay/wallets.ts';
import { displayAmount } from '../web/amount.ts';
import { html } from '../web/html.ts';
import { dataTable } from '../web/layout.ts';
import { formText } from '../web/page.ts';
import { featurePages } from './feature-gate.ts';
import type { DashboardCtx, DashboardPages } from './pages.ts';
import { BASE, card, flashBox, hidden, time, type Flash, type ViewCtx } from './views.ts';

const QuoteForm = z.object({ wallet: formText, pair: formText, fromAmount: formText });
const ExecuteForm = z.object({ quoteId: formText });

const WALLET_LABEL: Record<string, string> = { FUNDING_WALLET: 'Funding wallet', SPOT_WALLET: 'Spot wallet' };

type ConversionsFlash = Flash & {
  quote?: Quote & { wallet: string };
  form?: { wallet?: string; pair?: string; fromAmount?: string };
};

/** The quote form, the quote just given (with its Execute button while it holds) and the latest conversions. */
function conversionsView(
  ctx: ViewCtx,
  d: { pairs: { fromAsset: string; toAsset: string }[]; orders: ConvertOrder[]; now: number },
  flash?: ConversionsFlash,
) {
  const f = flash?.form ?? {};
  const option = (value: string, label: string, selected?: string) =>
    html`<option value="${value}"${value === selected ? html` selected` : ''}>${label}</option>`;
  const q = flash?.quote;
  const quoteCard = q
    ? card(html`<h2>Quote</h2>
        <div id="quote">
          <div class="row"><span>You pay</span><strong>${displayAmount(q.fromAmount, q.fromCoin)}</strong></div>
          <div class="row"><span>You get</span><strong>${displayAmount(q.toAmount, q.toCoin)}</strong></div>
          <div class="row"><span>Rate</span><span class="mono">1 ${q.fromCoin} = ${displayRate(q.ratio)} ${q.toCoin}</span></div>
          <div class="row"><span>Wallet</span><span>${WALLET_LABEL[q.wallet] ?? q.wallet}</span></div>
          <div class="row"><span>Valid until</span><span>${time(q.expireTime)}</span></div>
        </div>
        ${
          q.quoteId
            ? html`<form method="post" action="${BASE}/conversions/execute" id="execute-form">${hidden(ctx.csrf)}
                <input type="hidden" name="quoteId" value="${q.quoteId}">
                <button class="btn" type="submit">Convert now</button></form>
                <p class="muted small">The rate holds for ${Math.round((q.expireTime - d.now) / 1000)} seconds.</p>`
            : html`<p class="bad" id="quote-uncovered">Not enough ${q.fromCoin} available in the
                ${WALLET_LABEL[q.wallet]?.toLowerCase() ?? 'wallet'} for this conversion.</p>`
        }`)
    : '';
  return html`${flashBox(flash)}
    ${card(html`<h1>Convert</h1>
      <p class="muted">Convert one asset into another inside a wallet at a quoted rate (the same quotes as
        /otc-portal/get-quote).</p>
      ${
        d.pairs.length === 0
          ? html`<p class="muted" id="no-pairs">No conversion pairs are available for this platform yet.</p>`
          : html`<form method="post" action="${BASE}/conversions/quote" id="quote-form">${hidden(ctx.csrf)}
        <div class="grid2">
          <div><label for="wallet">Wallet</label><select id="wallet" name="wallet">
            ${MERCHANT_WALLETS.map((w) => option(w, WALLET_LABEL[w]!, f.wallet))}</select></div>
          <div><label for="pair">Convert</label><select id="pair" name="pair">
            ${d.pairs.map((p) => option(`${p.fromAsset}/${p.toAsset}`, `${p.fromAsset} → ${p.toAsset}`, f.pair))}
          </select></div>
        </div>
        <label for="fromAmount">Amount to convert</label><input id="fromAmount" type="text" inputmode="decimal"
          name="fromAmount" value="${f.fromAmount ?? ''}" placeholder="0.00" required>
        <button class="btn" type="submit">Get a quote</button></form>`
      }`)}
    ${quoteCard}
    ${card(html`<h2>Latest conversions</h2>
      ${
        d.orders.length === 0
          ? html`<p class="muted" id="no-conversions">No conversions yet.</p>`
          : dataTable({
              id: 'conversions',
              rows: d.orders,
              columns: [
                { label: 'Time', cell: (o) => time(o.createTime) },
                { label: 'From', cell: (o) => displayAmount(o.fromAmount, o.fromAsset) },
                { label: 'To', cell: (o) => displayAmount(o.toAmount, o.toAsset) },
                { label: 'Wallet', cell: (o) => WALLET_LABEL[o.wallet] ?? o.wallet },
                {
                  label: 'Status',
                  cell: (o) => html`<span class="${o.status === 'SUCCESS' ? 'ok' : 'bad'} nowrap">${o.status}</span>`,
                },
                { label: 'Order', cell: (o) => o.orderId, cls: 'mono small' },
              ],
            })
      }`)}`;
}

/**
 * Convert (binance-pay-extended.md §15): a quote form, the quote with an Execute button while its rate holds, and the
 * merchant's latest conversions; through the same service as /otc-portal/*, so the page and the API agree.
 */
export function conversionPages(deps: {
  convert: ConvertService;
  now: () => number;
  /** The merchant has feature `convert` (§9.1): else every page and form answers 403 and converts nothing. */
  enabled: (ctx: DashboardCtx) => boolean;
}) {
  return (all: DashboardPages) => {
    const pages = featurePages(all, {
      enabled: deps.enabled,
      title: 'Convert',
      id: 'convert-off',
      sentence: 'Convert is not enabled for this account.',
    });
    async function show(reply: FastifyReply, ctx: DashboardCtx, flash?: ConversionsFlash, status = 200) {
      const id = String(ctx.merchant.merchantId);
      const [pairs, orders] = await Promise.all([deps.convert.pairs(), deps.convert.recent(id)]);
      const view = conversionsView(ctx, { pairs: pairs.filter((p) => p.enabled), orders, now: deps.now() }, flash);
      return pages.frame(reply, 'Convert', view, ctx, status);
    }

    pages.get('/conversions', async (_req, reply, ctx) => show(reply, ctx));

    pages.postForm(
      '/conversions/quote',
      QuoteForm,
      async (_req, reply, ctx, error) => show(reply, ctx, { error }, 400),
      async (_req, reply, ctx, form) => {
        const [fromAsset = '', toAsset = ''] = (form.pair ?? '').split('/');
        const parsed = GetQuote.safeParse({
          wallet: form.wallet,
          fromAsset,
          toAsset,
          fromAmount: (form.fromAmount ?? '').trim(),
        });
        if (!parsed.success) {
          const field = String(parsed.error.issues[0]?.path[0] ?? '');
          const error =
            field === 'fromAmount' ? 'Enter an amount above 0 with at most 8 decimals.' : 'Choose a wallet and a pair.';
          return show(reply, ctx, { error, form }, 400);
        }
        const id = String(ctx.merchant.merchantId);
        const r = await deps.convert.quote({ merchantId: id, creatorMerchantId: id }, parsed.data);
        if (!r.ok) return show(reply, ctx, { error: r.message ?? r.code, form }, 400);
        return show(reply, ctx, { quote: { ...r.value, wallet: parsed.data.wallet }, form });
      },
    );

    pages.postForm(
      '/conversions/execute',
      ExecuteForm,
      async (_req, reply, ctx, error) => show(reply, ctx, { error }, 400),
      async (_req, reply, ctx, form) => {
        const r = await deps.convert.execute(String(ctx.merchant.merchantId), form.quoteId ?? '');
        if (!r.ok)
          return show(
            reply,
            ctx,
            { error: r.code === 'QUOTE_EXPIRED' ? 'The quote has expired; get a new one.' : (r.message ?? r.code) },
            r.code === 'QUOTE_EXPIRED' ? 409 : 400,
          );
        const o = r.value;
        if (o.status !== 'SUCCESS')
          return show(reply, ctx, { error: `Not enough ${o.fromAsset} available: nothing was converted.` }, 409);
        return show(reply, ctx, {
          ok: `Converted ${displayAmount(o.fromAmount, o.fromAsset)} into ${displayAmount(o.toAmount, o.toAsset)}.`,
        });
      },
    );
  };
}
