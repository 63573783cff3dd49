import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import QRCode from 'qrcode';
import { z } from 'zod';
import type { AccountsService, Sessions } from '../../accounts/service.ts';
import { adminError, adminGuard } from '../../platform/admin-auth.ts';
import { html } from '../../web/html.ts';
import { displayAmount } from '../../web/amount.ts';
import { formText, parseForm, serveScript } from '../../web/page.ts';
import { PAY_CURRENCIES, type OrderService } from '../orders/service.ts';
import { createQrPayerOrders } from './payer-order.ts';
import { BAD_TOKEN, createPayerPages } from '../shareinfo/payer-pages.ts';
import { payerLoginCard } from '../shareinfo/views.ts';
import type { MerchantQrService, QrCode, Scan } from './service.ts';

const AmountFormSchema = z.object({ amount: formText, currency: formText });
type AmountForm = z.infer<typeof AmountFormSchema>;

/**
 * The static code's page `/qr/{code}` (binance-pay-extended.md §17.3): a logged-in user opening it scans it (the scan
 * and its webhook), then waits on `/qr/{code}/scans/{referId}`, which becomes the order's checkout once the merchant
 * has created it (the page polls `/status`; a reload asks again). In the sandbox the page also lets the payer create
 * the order (`/order`, src/pay/merchantqr/payer-order.ts). The sandbox hook scans for a payer by e-mail.
 */
export function registerMerchantQrRoutes(
  app: FastifyInstance,
  deps: {
    merchantQr: MerchantQrService;
    orders: OrderService;
    accounts: AccountsService;
    sessions: Sessions;
    adminToken: string;
    mode: 'sandbox' | 'production';
    publicUrl: string;
  },
) {
  const { merchantQr, orders, accounts } = deps;
  const hide = { hide: true };
  const payerPages = createPayerPages({ ...deps, csrf: { cookie: 'rampart_qr_csrf', path: '/qr' } });
  const { pages, csrf } = payerPages;
  const payerOrders = createQrPayerOrders({ merchantQr, orders, mode: deps.mode });
  const codeOf = (req: FastifyRequest) => String((req.params as Record<string, unknown>).code ?? '');
  const notFound = (reply: FastifyReply) =>
    pages.send(reply, {
      title: 'Not found',
      status: 404,
      body: html`<div class="card"><h1>Code not found</h1><p class="muted">This QR code is not in use.</p></div>`,
    });

  async function heading(c: QrCode) {
    const m = await accounts.getMerchant(c.merchantId);
    return html`<div class="card"><h1 id="merchant">Pay ${m?.name ?? 'the merchant'}</h1>
      <p class="muted">${c.label}</p>${
        c.amount && c.currency ? html`<div class="amount" id="amount">${displayAmount(c.amount, c.currency)}</div>` : ''
      }</div>`;
  }

  /** Where a scan stands: the order's checkout once linked, else waiting or expired. */
  async function scanState(s: Scan, now: number) {
    if (s.prepayId) {
      const o = await orders.getByPrepayId(s.prepayId);
      if (o) return { state: 'ORDER' as const, checkoutUrl: `/checkout/${o.checkoutToken}` };
    }
    return { state: s.expireTime <= now ? ('EXPIRED' as const) : ('WAITING' as const), checkoutUrl: null };
  }

  app.get('/qr/:code', { schema: hide }, async (req, reply) => {
    const c = await merchantQr.getCode(codeOf(req));
    if (!c || c.disabledAt !== null || !(await merchantQr.enabled(c.merchantId))) return notFound(reply);
    const payer = await payerPages.payerOf(req);
    if (!payer) {
      const body = html`${await heading(c)}${payerLoginCard({
        action: `/qr/${c.code}/login`,
        csrf: csrf.token(req, reply),
        next: `/qr/${c.code}`,
        title: 'Log in to pay',
      })}`;
      return pages.send(reply, { title: 'Pay by QR code', body, noStore: true });
    }
    const s = await merchantQr.scan(c.code, String(payer.payerId));
    if (!s) return notFound(reply);
    reply.header('cache-control', 'no-store');
    return reply.redirect(`/qr/${c.code}/scans/${s.referId}`, 303);
  });

  app.post(
    '/qr/:code/login',
    { schema: hide, config: { rateLimit: { max: 10, timeWindow: '1 minute' } } },
    async (req, reply) => {
      const c = await merchantQr.getCode(codeOf(req));
      if (!c || c.disabledAt !== null) return notFound(reply);
      if (!csrf.ok(req)) return reply.code(403).send(BAD_TOKEN);
      const r = await payerPages.login(req, reply);
      if (!r.ok) {
        const body = html`${await heading(c)}<div class="error" role="alert" id="error">${r.message}</div>${payerLoginCard(
          {
            action: `/qr/${c.code}/login`,
            csrf: csrf.token(req, reply),
            next: `/qr/${c.code}`,
            title: 'Log in to pay',
          },
        )}`;
        return pages.send(reply, { title: 'Pay by QR code', body, status: 401, noStore: true });
      }
      return reply.redirect(`/qr/${c.code}`, 303);
    },
  );

  /** The scan of this code by the logged-in user who made it (nobody else sees it). */
  async function ownScan(req: FastifyRequest) {
    const p = req.params as { code: string; referId: string };
    const s = await merchantQr.getScan(String(p.referId));
    const payer = await payerPages.payerOf(req);
    return s && s.code === p.code && payer && String(payer.payerId) === s.payerId ? s : null;
  }

  /**
   * The waiting page of a scan. In the sandbox it also lets the payer create the order (issue 18): the amount they
   * enter for a USER_INPUT_AMOUNT code, Continue at the registered amount for a FIXED_AMOUNT one.
   */
  async function waitingPage(
    req: FastifyRequest,
    reply: FastifyReply,
    s: Scan,
    c: QrCode,
    opts: { error?: string; form?: AmountForm; status?: number } = {},
  ) {
    const st = await scanState(s, merchantQr.now());
    if (st.state === 'ORDER') return reply.redirect(st.checkoutUrl!, 303);
    const base = `/qr/${c.code}/scans/${s.referId}`;
    const form = opts.form ?? {};
    const option = (cur: string) =>
      html`<option value="${cur}"${cur === (form.currency ?? 'USDT') ? html` selected` : ''}>${cur}</option>`;
    const payerForm = !payerOrders.offered()
      ? ''
      : html`<div class="card" id="payer-order"><h2>${
          c.qrType === 'USER_INPUT_AMOUNT' ? 'Enter the amount' : 'Or continue yourself'
        }</h2><p class="muted small">Sandbox: instead of waiting for the merchant, create the order yourself${
          c.qrType === 'USER_INPUT_AMOUNT' ? ' for the amount you enter' : ' at the amount shown'
        }.</p>${opts.error ? html`<div class="error" role="alert" id="error">${opts.error}</div>` : ''}
        <form method="post" action="${base}/order">
          <input type="hidden" name="csrf" value="${csrf.token(req, reply)}">${
            c.qrType === 'USER_INPUT_AMOUNT'
              ? html`<div class="grid2"><div><label for="amount">Amount</label><input id="amount" type="text"
                name="amount" inputmode="decimal" autocomplete="off" placeholder="3.5" value="${form.amount ?? ''}"
                required></div><div><label for="currency">Currency</label><select id="currency" name="currency">${PAY_CURRENCIES.map(
                  option,
                )}</select></div></div><button class="btn" type="submit" id="enter-amount">Continue to pay</button>`
              : html`<button class="btn" type="submit" id="continue">Continue</button>`
          }</form></div>`;
    const body = html`${await heading(c)}<div class="card">${
      st.state === 'WAITING'
        ? html`<div class="status wait" id="waiting" data-status-url="${base}/status">Waiting
          for the merchant…</div><p class="muted">The merchant is entering your order. This page opens it as soon as
          it is ready.</p><a class="btn secondary" href="${base}">Refresh</a>`
        : html`<div class="status bad" id="expired">The merchant did not create an order in time.</div>
          <a class="btn" href="/qr/${c.code}">Scan again</a>`
    }</div>${st.state === 'WAITING' ? payerForm : ''}`;
    return pages.send(reply, {
      title: 'Waiting for the merchant',
      body,
      noStore: true,
      status: opts.status,
      scripts: ['/assets/merchantqr.js'],
    });
  }

  app.get('/qr/:code/scans/:referId', { schema: hide }, async (req, reply) => {
    const s = await ownScan(req);
    const c = s && (await merchantQr.getCode(s.code));
    if (!s || !c) return notFound(reply);
    return waitingPage(req, reply, s, c);
  });

  /** The payer creates the scan's order (sandbox only; production refuses: the merchant sets the amount, §17.3). */
  app.post(
    '/qr/:code/scans/:referId/order',
    { schema: hide, config: { rateLimit: { max: 30, timeWindow: '1 minute' } } },
    async (req, reply) => {
      if (!payerOrders.offered())
        return pages.send(reply, {
          title: 'Not available',
          status: 403,
          body: html`<div class="card"><h1>Not available</h1><p class="muted" id="sandbox-only">The merchant enters
            the amount of this payment. Wait for the merchant on the previous page.</p></div>`,
        });
      const s = await ownScan(req);
      const c = s && (await merchantQr.getCode(s.code));
      if (!s || !c) return notFound(reply);
      if (!csrf.ok(req)) return reply.code(403).send(BAD_TOKEN);
      const parsed = parseForm(AmountFormSchema, req);
      const form: AmountForm = parsed.ok ? parsed.value : {};
      const r = await payerOrders.create(s, form);
      if (r.ok) return reply.redirect(`/checkout/${r.value.checkoutToken}`, 303);
      const fresh = (await merchantQr.getScan(s.referId)) ?? s;
      return waitingPage(req, reply, fresh, c, {
        error: r.message,
        form,
        status: r.code === 'INVALID_AMOUNT' ? 400 : 409,
      });
    },
  );

  app.get('/qr/:code/scans/:referId/status', { schema: hide }, async (req, reply) => {
    const s = await ownScan(req);
    if (!s) return reply.code(404).send({ error: 'not found' });
    return reply.header('cache-control', 'no-store').send(await scanState(s, merchantQr.now()));
  });

  app.get('/qr/:code/qr.png', { schema: hide }, async (req, reply) => {
    const c = await merchantQr.getCode(codeOf(req));
    if (!c) return reply.code(404).send();
    const png = await QRCode.toBuffer(merchantQr.content(c.code), { type: 'png', width: 600, margin: 2 });
    return reply.type('image/png').header('cache-control', 'public, max-age=3600').send(png);
  });

  serveScript(app, '/assets/merchantqr.js', 'merchantqr.js', 'public, max-age=300');

  if (deps.mode !== 'sandbox') return;
  const guard = adminGuard(deps.adminToken);
  app.register(async (r) => {
    r.addHook('onRequest', guard);
    r.post(
      '/sandbox/v1/merchant-qr/:code/scan',
      {
        schema: {
          tags: ['Sandbox'],
          security: [{ adminToken: [] }],
          summary: "A user scans a merchant's static QR code (opening /qr/{code} logged in)",
          params: z.object({ code: z.string().regex(/^[A-Za-z0-9]{6,16}$/) }),
          body: z.object({ payerEmail: z.string().email() }),
        },
      },
      async (req, reply) => {
        const payer = await accounts.findPayerByEmail((req.body as { payerEmail: string }).payerEmail);
        if (!payer) return adminError(reply, 404, 'PAYER_NOT_FOUND');
        const s = await merchantQr.scan((req.params as { code: string }).code, String(payer.payerId));
        if (!s) return adminError(reply, 404, 'CODE_NOT_FOUND', 'No such code, or merchant QR codes are off.');
        const c = await merchantQr.getCode(s.code);
        return {
          referId: s.referId,
          qrContent: merchantQr.content(s.code),
          qrCodeType: c!.qrType,
          expireTime: s.expireTime,
        };
      },
    );
  });
}
