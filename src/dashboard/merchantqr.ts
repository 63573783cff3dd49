import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import type { MerchantQrService } from '../pay/merchantqr/service.ts';
import { PAY_CURRENCIES } from '../pay/orders/service.ts';
import { Decimal } from '../platform/money.ts';
import { formText } from '../web/page.ts';
import { merchantQrPrintView, merchantQrView, type QrCodeForm } from './merchantqr-views.ts';
import { param, type DashboardCtx, type DashboardPages } from './pages.ts';
import { card, type Flash } from './views.ts';
import { html } from '../web/html.ts';

const NewCodeForm = z.object({ qrType: formText, label: formText, amount: formText, currency: formText });
const AMOUNT = /^\d{1,20}(\.\d{1,8})?$/;

/** What is wrong with the form, or null: a name, and for a fixed amount a positive amount in a Pay currency. */
function formError(f: QrCodeForm): string | null {
  const label = (f.label ?? '').trim();
  if (label === '' || label.length > 64) return 'Give the code a name of at most 64 characters.';
  if (f.qrType === 'USER_INPUT_AMOUNT') return null;
  if (f.qrType !== 'FIXED_AMOUNT') return 'Choose a fixed amount or any amount.';
  const amount = (f.amount ?? '').trim();
  if (!AMOUNT.test(amount) || !new Decimal(amount).gt(0))
    return 'A fixed amount is a number above zero with at most 8 decimals.';
  if (!PAY_CURRENCIES.includes(f.currency ?? '')) return 'Choose one of the listed currencies.';
  return null;
}

/**
 * QR codes (binance-pay-extended.md §17.3, feature merchantQrCode): the merchant's static codes, a new one from a
 * form (fixed amount or any amount), each with its image and /qr/{code} link, a page to print it, and Disable. Without
 * the feature the section says the operator has to enable it.
 */
export function merchantQrPages(deps: { merchantQr: MerchantQrService; enabled: (ctx: DashboardCtx) => boolean }) {
  const { merchantQr } = deps;
  return (pages: DashboardPages) => {
    const off = (reply: FastifyReply, ctx: DashboardCtx) =>
      pages.frame(
        reply,
        'QR codes',
        card(html`<h1>QR codes</h1><p class="muted" id="qr-off">Merchant QR codes are not enabled for this account.
          Ask the platform operator to enable them.</p>`),
        ctx,
        403,
      );
    async function list(reply: FastifyReply, ctx: DashboardCtx, form?: QrCodeForm, flash?: Flash, status = 200) {
      const codes = await merchantQr.list(String(ctx.merchant.merchantId));
      return pages.frame(reply, 'QR codes', merchantQrView(ctx, codes, merchantQr.content, form, flash), ctx, status);
    }
    async function owned(ctx: DashboardCtx, code: string) {
      const c = await merchantQr.getCode(code);
      return c && c.merchantId === String(ctx.merchant.merchantId) ? c : null;
    }

    pages.get('/qr-codes', async (_req, reply, ctx) => (deps.enabled(ctx) ? list(reply, ctx) : off(reply, ctx)));

    pages.postForm(
      '/qr-codes',
      NewCodeForm,
      async (_req, reply, ctx, error) => list(reply, ctx, {}, { error }, 400),
      async (_req, reply, ctx, form) => {
        if (!deps.enabled(ctx)) return off(reply, ctx);
        const error = formError(form);
        if (error) return list(reply, ctx, form, { error }, 400);
        const fixed = form.qrType === 'FIXED_AMOUNT';
        const r = await merchantQr.register(String(ctx.merchant.merchantId), {
          qrType: fixed ? 'FIXED_AMOUNT' : 'USER_INPUT_AMOUNT',
          label: form.label!.trim(),
          amount: fixed ? new Decimal(form.amount!.trim()).toFixed() : null,
          currency: fixed ? form.currency! : null,
        });
        if (!r.ok) return off(reply, ctx);
        return list(reply, ctx, {}, { ok: `Created the QR code ${r.value.label}.` });
      },
    );

    pages.get('/qr-codes/:code/print', async (req, reply, ctx) => {
      const c = deps.enabled(ctx) ? await owned(ctx, param(req, 'code')) : null;
      if (!c || c.disabledAt !== null) return pages.notFound(reply, ctx);
      return pages.frame(
        reply,
        `QR code ${c.label}`,
        merchantQrPrintView(ctx.merchant.name, c, merchantQr.content(c.code)),
        ctx,
      );
    });

    pages.post('/qr-codes/:code/disable', async (req, reply, ctx) => {
      const c = await owned(ctx, param(req, 'code'));
      if (!c) return pages.notFound(reply, ctx);
      await merchantQr.disable(String(ctx.merchant.merchantId), c.code);
      return list(reply, ctx, {}, { ok: `${c.label} is disabled: scanning it no longer starts a payment.` });
    });
  };
}
