import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import QRCode from 'qrcode';
import { z } from 'zod';
import type { AccountsService, Sessions } from '../../accounts/service.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Db } from '../../platform/db/client.ts';
import type { Ledger } from '../../platform/ledger/service.ts';
import { Decimal } from '../../platform/money.ts';
import type { PriceSource } from '../../prices/service.ts';
import { createPageHelper, csrfCookie, formText, parseForm, serveScript } from '../../web/page.ts';
import type { Contract } from '../directdebit/service.ts';
import type { OnchainPayments } from '../onchain/service.ts';
import { COUNTRY_BLOCKED_MESSAGE, type Order, type OrderService } from '../orders/service.ts';
import {
  checkoutView,
  onchainMessage,
  onchainView,
  orderNotFoundView,
  type OnchainState,
  type PayOption,
} from './views.ts';

/**
 * The hosted checkout at checkoutUrl: order summary, QR code of qrContent, deeplink, countdown and live status;
 * the payer logs in with email and password, picks a currency and pays from their wallet.
 * Forms are protected by a double-submit CSRF cookie; the payer session cookie is HttpOnly, SameSite=Lax.
 * The page is in views.ts, its script in src/web/assets/checkout.js.
 */
const SESSION_COOKIE = 'rampart_payer';
const CSRF_COOKIE = 'rampart_csrf';
/**
 * A failed Pay redirects back to the page (post/redirect/get, so a reload does not post the form again); the reason
 * rides along in this cookie, scoped to the order's page, read and cleared by the next view of it.
 */
const FLASH_COOKIE = 'rampart_checkout_flash';
const FLASH_MAX_CHARS = 300;
const BAD_TOKEN = 'Invalid form token; reload the page.';

// The form bodies, parsed at the edge: a body that does not fit shows the page's error, never a 500.
const LoginForm = z.object({ email: formText, password: formText });
const PayForm = z.object({ currency: formText });
const OnchainForm = z.object({ option: formText });

/** The checkout's QR codes: the page's own URL, or an on-chain payment request. */
const qrPng = (text: string) =>
  QRCode.toBuffer(text, { type: 'png', width: 300, margin: 2, errorCorrectionLevel: 'M' });

export function registerCheckoutRoutes(
  app: FastifyInstance,
  deps: {
    db: Db;
    clock: Clock;
    orders: OrderService;
    accounts: AccountsService;
    sessions: Sessions;
    ledger: Ledger;
    prices: PriceSource;
    /** Paying from another wallet (src/pay/onchain). */
    onchain: OnchainPayments;
    /** The direct debit contract an order signs when paid (binance-pay-extended.md §14.9), shown under its amount. */
    orderContract: (o: Order) => Promise<Contract | null>;
    publicUrl: string;
    mode: string;
  },
) {
  const { orders, accounts, sessions } = deps;
  const secure = deps.publicUrl.startsWith('https://');
  const hide = { hide: true };
  const pages = createPageHelper({ mode: deps.mode, sessions });
  const csrf = csrfCookie({ cookie: CSRF_COOKIE, path: '/checkout', secure, field: 'csrf', sameSite: 'strict' });
  const tokenOf = (req: FastifyRequest) => String((req.params as Record<string, unknown>).token ?? '');

  const checkoutUrl = (o: Order) => `${deps.publicUrl}/checkout/${o.checkoutToken}`;

  async function payerOf(req: FastifyRequest) {
    const s = await pages.session(req, SESSION_COOKIE, 'payer');
    return s ? accounts.getPayer(s.subjectId) : null;
  }

  /**
   * The status the buyer should see: an INITIAL order past expireTime is expired even before the expiry
   * worker has swept it, so the page never offers to pay it and open pages learn of it through /status.
   */
  const shownStatus = (o: Order, now: number) => (o.status === 'INITIAL' && o.expireTime <= now ? 'EXPIRED' : o.status);

  /** What the order costs in each currency it may be paid in, next to the payer's balance in it. */
  async function payOptions(o: Order, payerId: string): Promise<PayOption[]> {
    const balances = await deps.ledger.balances(deps.db, 'payer', payerId);
    const currencies = o.supportPayCurrency.length ? o.supportPayCurrency : [o.currency];
    return currencies.map((c) => {
      const bal = balances.find((b) => b.asset === c)?.available ?? '0';
      let due = o.orderAmount;
      if (c !== o.currency) {
        const pOrder = deps.prices.cryptoUsd(o.currency);
        const pPay = deps.prices.cryptoUsd(c);
        due = pOrder && pPay ? new Decimal(o.orderAmount).mul(pOrder).div(pPay).toFixed(8, Decimal.ROUND_UP) : '—';
      }
      const affordable = due !== '—' && new Decimal(bal).gte(due);
      return { currency: c, due, balance: new Decimal(bal).toFixed(8), affordable };
    });
  }

  async function render(req: FastifyRequest, reply: FastifyReply, o: Order, error?: string) {
    // An order of a channel partner's sub-merchant shows the sub-merchant, not the partner (§12.5).
    const face = await orders.checkoutFace(o);
    const merchant = face ? null : await accounts.getMerchant(o.merchantId);
    const payer = await payerOf(req);
    const token = csrf.token(req, reply);
    const now = deps.clock.now();
    const status = shownStatus(o, now);
    const blocked = status === 'INITIAL' && !!payer && (await orders.payerBlocked(o, String(payer.payerId)));
    const options = status === 'INITIAL' && payer && !blocked ? await payOptions(o, String(payer.payerId)) : [];
    const body = checkoutView({
      order: o,
      merchantName: face?.merchantName ?? merchant?.name ?? null,
      brandLogo: face?.brandLogo ?? null,
      blocked,
      onchainAllowed: await orders.onchainAllowed(o),
      status,
      now,
      csrf: token,
      payer: payer ? { email: payer.email, options } : null,
      contract: await deps.orderContract(o),
      error,
    });
    return pages.send(reply, { title: 'Checkout', body, noStore: true, scripts: ['/assets/checkout.js'] });
  }

  const notFound = (reply: FastifyReply) =>
    pages.send(reply, { title: 'Not found', status: 404, body: orderNotFoundView() });

  serveScript(app, '/assets/checkout.js', 'checkout.js', 'public, max-age=300');

  const pagePath = (o: Order) => `/checkout/${o.checkoutToken}`;

  app.get('/checkout/:token', { schema: hide }, async (req, reply) => {
    const o = await orders.getByCheckoutToken(tokenOf(req));
    if (!o) return notFound(reply);
    const flash = req.cookies[FLASH_COOKIE];
    if (flash !== undefined) reply.clearCookie(FLASH_COOKIE, { path: pagePath(o) });
    return render(req, reply, o, flash ? flash.slice(0, FLASH_MAX_CHARS) : undefined);
  });

  app.get('/checkout/:token/qr.png', { schema: hide }, async (req, reply) => {
    const o = await orders.getByCheckoutToken(tokenOf(req));
    if (!o) return reply.code(404).send();
    const png = await qrPng(checkoutUrl(o));
    return reply.type('image/png').header('cache-control', 'public, max-age=3600').send(png);
  });

  app.get('/checkout/:token/status', { schema: hide }, async (req, reply) => {
    const o = await orders.getByCheckoutToken(tokenOf(req));
    if (!o) return reply.code(404).send({ error: 'not found' });
    const now = deps.clock.now();
    return reply
      .header('cache-control', 'no-store')
      .send({ status: shownStatus(o, now), expireTime: o.expireTime, now });
  });

  app.post(
    '/checkout/:token/login',
    { schema: hide, config: { rateLimit: { max: 10, timeWindow: '1 minute' } } },
    async (req, reply) => {
      const o = await orders.getByCheckoutToken(tokenOf(req));
      if (!o) return notFound(reply);
      if (!csrf.ok(req)) return reply.code(403).send(BAD_TOKEN);
      const form = parseForm(LoginForm, req);
      if (!form.ok) return render(req, reply.code(400), o, form.message);
      const res = await accounts.authenticatePayer(form.value.email ?? '', form.value.password ?? '');
      if (!res.ok) return render(req, reply.code(401), o, 'Wrong email or password.');
      const s = await sessions.create('payer', String(res.value.payerId));
      reply.setCookie(SESSION_COOKIE, s.cookie, {
        path: '/',
        httpOnly: true,
        sameSite: 'lax',
        secure,
        maxAge: 12 * 3600,
      });
      return reply.redirect(`/checkout/${o.checkoutToken}`, 303);
    },
  );

  app.post('/checkout/:token/logout', { schema: hide }, async (req, reply) => {
    if (!csrf.ok(req)) return reply.code(403).send(BAD_TOKEN);
    await sessions.destroy(req.cookies[SESSION_COOKIE]);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.redirect(`/checkout/${tokenOf(req)}`, 303);
  });

  app.post('/checkout/:token/pay', { schema: hide }, async (req, reply) => {
    const o = await orders.getByCheckoutToken(tokenOf(req));
    if (!o) return notFound(reply);
    if (!csrf.ok(req)) return reply.code(403).send(BAD_TOKEN);
    const payer = await payerOf(req);
    if (!payer) return render(req, reply.code(401), o, 'Please log in first.');
    const form = parseForm(PayForm, req);
    if (!form.ok) return render(req, reply.code(400), o, form.message);
    const res = await orders.pay(o.prepayId, String(payer.payerId), form.value.currency);
    if (!res.ok) {
      reply.setCookie(FLASH_COOKIE, (res.message ?? 'Payment failed.').slice(0, FLASH_MAX_CHARS), {
        path: pagePath(o),
        httpOnly: true,
        sameSite: 'strict',
        secure,
        maxAge: 60,
      });
      return reply.redirect(pagePath(o), 303);
    }
    return reply.redirect(res.value.returnUrl ?? `/checkout/${o.checkoutToken}`, 303);
  });

  /** The on-chain payment as the page and its script show it, or null before the payer has chosen. */
  async function onchainState(o: Order): Promise<OnchainState | null> {
    const p = await deps.onchain.progress(o.prepayId);
    if (!p) return null;
    const base = {
      orderStatus: shownStatus(o, deps.clock.now()),
      intentStatus: p.intent.status,
      asset: p.intent.asset,
      network: p.intent.network,
      address: p.intent.address,
      amount: p.intent.amount,
      received: p.intent.received,
      remaining: p.remaining,
      returned: p.returned,
      credits: p.credits,
      transfers: p.deposits.map((t) => ({
        txHash: t.txHash,
        asset: t.asset,
        network: t.network,
        amount: t.amount,
        status: t.status,
        confirmations: t.confirmations,
        confirmationsRequired: t.confirmationsRequired,
      })),
      payerKnown: p.intent.payerId !== null,
      returnUrl: o.returnUrl,
    };
    return { ...base, ...onchainMessage(base) };
  }

  async function renderOnchain(req: FastifyRequest, reply: FastifyReply, o: Order, error?: string) {
    const face = await orders.checkoutFace(o);
    const merchant = face ? null : await accounts.getMerchant(o.merchantId);
    const now = deps.clock.now();
    const status = shownStatus(o, now);
    const state = await onchainState(o);
    const intent = state ? await deps.onchain.get(o.prepayId) : null;
    const body = onchainView({
      order: o,
      merchantName: face?.merchantName ?? merchant?.name ?? null,
      status,
      now,
      csrf: csrf.token(req, reply),
      options:
        status === 'INITIAL' &&
        (!state || (state.intentStatus === 'AWAITING' && state.transfers.length === 0)) &&
        (await orders.onchainAllowed(o))
          ? await deps.onchain.options(o)
          : [],
      state,
      // Without a reachable node the page still shows the address and amount, only no wallet link.
      paymentUri:
        intent && state?.intentStatus === 'AWAITING' ? await deps.onchain.paymentUri(intent).catch(() => null) : null,
      error,
    });
    return pages.send(reply, {
      title: 'Pay from another wallet',
      body,
      noStore: true,
      scripts: ['/assets/checkout-onchain.js'],
    });
  }

  serveScript(app, '/assets/checkout-onchain.js', 'checkout-onchain.js', 'public, max-age=300');

  app.get('/checkout/:token/onchain', { schema: hide }, async (req, reply) => {
    const o = await orders.getByCheckoutToken(tokenOf(req));
    return o ? renderOnchain(req, reply, o) : notFound(reply);
  });

  // Choosing (again) is safe at every state: the same choice changes nothing, and a closed order refuses.
  app.post('/checkout/:token/onchain', { schema: hide }, async (req, reply) => {
    const o = await orders.getByCheckoutToken(tokenOf(req));
    if (!o) return notFound(reply);
    if (!csrf.ok(req)) return reply.code(403).send(BAD_TOKEN);
    const form = parseForm(OnchainForm, req);
    if (!form.ok) return renderOnchain(req, reply.code(400), o, form.message);
    const [asset = '', network = ''] = (form.value.option ?? '').split('@');
    const payer = await payerOf(req);
    if (payer && (await orders.payerBlocked(o, String(payer.payerId))))
      return renderOnchain(req, reply.code(409), o, COUNTRY_BLOCKED_MESSAGE);
    const res = await deps.onchain.choose(o, { asset, network }, payer ? String(payer.payerId) : null);
    if (!res.ok) return renderOnchain(req, reply.code(409), o, res.message ?? 'This choice is not available.');
    return reply.redirect(`/checkout/${o.checkoutToken}/onchain`, 303);
  });

  app.get('/checkout/:token/onchain/status', { schema: hide }, async (req, reply) => {
    const o = await orders.getByCheckoutToken(tokenOf(req));
    const state = o ? await onchainState(o) : null;
    if (!state) return reply.code(404).send({ error: 'not found' });
    return reply.header('cache-control', 'no-store').send(state);
  });

  app.get('/checkout/:token/onchain/qr.png', { schema: hide }, async (req, reply) => {
    const o = await orders.getByCheckoutToken(tokenOf(req));
    const intent = o ? await deps.onchain.get(o.prepayId) : null;
    if (!intent) return reply.code(404).send();
    // Without a reachable node (no chain id to name) the code carries the bare address.
    const png = await qrPng(await deps.onchain.paymentUri(intent).catch(() => intent.address));
    return reply.type('image/png').header('cache-control', 'no-store').send(png);
  });

  app.get('/checkout/:token/cancel', { schema: hide }, async (req, reply) => {
    const o = await orders.getByCheckoutToken(tokenOf(req));
    if (!o) return notFound(reply);
    return reply.redirect(o.cancelUrl ?? `/checkout/${o.checkoutToken}`, 303);
  });
}
