import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import QRCode from 'qrcode';
import type { AccountsService, Sessions } from '../../accounts/service.ts';
import type { Clock } from '../../platform/clock.ts';
import { randomString, safeEqual } from '../../platform/crypto.ts';
import type { Db } from '../../platform/db/client.ts';
import type { Ledger } from '../../platform/ledger/service.ts';
import { Decimal } from '../../platform/money.ts';
import type { PriceSource } from '../../prices/service.ts';
import { html, type SafeHtml } from '../../web/html.ts';
import { page } from '../../web/layout.ts';
import type { Order, OrderService } from '../orders/service.ts';

/**
 * The hosted checkout at checkoutUrl: order summary, QR code of qrContent, deeplink, countdown and live status;
 * the payer logs in with email and password, picks a currency and pays from their wallet.
 * Forms are protected by a double-submit CSRF cookie; the payer session cookie is HttpOnly, SameSite=Lax.
 */
const SESSION_COOKIE = 'rampart_payer';
const CSRF_COOKIE = 'rampart_csrf';

const CHECKOUT_JS = `
(function(){
  var root=document.querySelector('[data-checkout]'); if(!root) return;
  var expire=Number(root.getAttribute('data-expire')); var skew=Number(root.getAttribute('data-now'))-Date.now();
  var status=root.getAttribute('data-status'); var el=document.getElementById('countdown');
  function tick(){ if(!el) return; var left=Math.max(0,expire-(Date.now()+skew)); var m=Math.floor(left/60000), s=Math.floor(left/1000)%60;
    el.textContent=(m<10?'0':'')+m+':'+(s<10?'0':'')+s; if(left<=0&&status==='INITIAL'){ setTimeout(poll,1500); } }
  function poll(){ fetch(location.pathname.replace(/\\/$/,'')+'/status',{cache:'no-store'}).then(function(r){return r.json()}).then(function(j){
    if(j.status!==status){ location.reload(); } }).catch(function(){}); }
  tick(); setInterval(tick,1000); if(status==='INITIAL'||status==='PENDING') setInterval(poll,3000);
})();`;

const STATUS_TEXT: Record<string, { text: string; cls: string }> = {
  INITIAL: { text: 'Waiting for payment', cls: 'wait' },
  PENDING: { text: 'Payment in progress', cls: 'wait' },
  PAID: { text: 'Paid', cls: 'ok' },
  CANCELED: { text: 'This order was closed by the merchant', cls: 'bad' },
  EXPIRED: { text: 'This order has expired', cls: 'bad' },
  ERROR: { text: 'This payment failed', cls: 'bad' },
  REFUNDING: { text: 'Paid · refund in progress', cls: 'ok' },
  REFUNDED: { text: 'Paid · partially refunded', cls: 'ok' },
  FULL_REFUNDED: { text: 'Paid · refunded', cls: 'ok' },
};

export function registerCheckoutRoutes(app: FastifyInstance, deps: {
  db: Db; clock: Clock; orders: OrderService; accounts: AccountsService; sessions: Sessions; ledger: Ledger; prices: PriceSource;
  publicUrl: string; mode: string;
}) {
  const { orders, accounts, sessions } = deps;
  const secure = deps.publicUrl.startsWith('https://');
  const hide = { hide: true };

  const checkoutUrl = (o: Order) => `${deps.publicUrl}/checkout/${o.checkoutToken}`;

  function csrfFor(req: FastifyRequest, reply: FastifyReply): string {
    let token = req.cookies[CSRF_COOKIE];
    if (!token || !/^[a-z0-9]{32}$/.test(token)) {
      token = randomString(32);
      reply.setCookie(CSRF_COOKIE, token, { path: '/checkout', httpOnly: true, sameSite: 'strict', secure });
    }
    return token;
  }
  const csrfOk = (req: FastifyRequest) => {
    const cookie = req.cookies[CSRF_COOKIE];
    const field = (req.body as any)?.csrf;
    return typeof cookie === 'string' && typeof field === 'string' && safeEqual(cookie, field);
  };

  async function payerOf(req: FastifyRequest) {
    const s = await sessions.get(req.cookies[SESSION_COOKIE], 'payer');
    return s ? accounts.getPayer(s.subjectId) : null;
  }

  /**
   * The status the buyer should see: an INITIAL order past expireTime is expired even before the expiry
   * worker has swept it, so the page never offers to pay it and open pages learn of it through /status.
   */
  const shownStatus = (o: Order, now: number) => (o.status === 'INITIAL' && o.expireTime <= now ? 'EXPIRED' : o.status);

  async function render(req: FastifyRequest, reply: FastifyReply, o: Order, error?: string) {
    const merchant = await accounts.getMerchant(o.merchantId);
    const payer = await payerOf(req);
    const csrf = csrfFor(req, reply);
    const now = deps.clock.now();
    const status = shownStatus(o, now);
    const st = STATUS_TEXT[status] ?? { text: status, cls: 'wait' };
    const open = status === 'INITIAL';
    const currencies = o.supportPayCurrency.length ? o.supportPayCurrency : [o.currency];
    let payBlock: SafeHtml | string = '';
    if (open && !payer) {
      payBlock = html`<div class="card"><h2>Log in to pay</h2>
        <form method="post" action="/checkout/${o.checkoutToken}/login">
          <input type="hidden" name="csrf" value="${csrf}">
          <label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username" required>
          <label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
          <button class="btn" type="submit">Log in</button>
        </form></div>`;
    } else if (open && payer) {
      const balances = await deps.ledger.balances(deps.db, 'payer', String(payer.payerId));
      const options = currencies.map((c, i) => {
        const bal = balances.find((b) => b.asset === c)?.available ?? '0';
        let due = o.orderAmount;
        if (c !== o.currency) {
          const pOrder = deps.prices.cryptoUsd(o.currency);
          const pPay = deps.prices.cryptoUsd(c);
          due = pOrder && pPay ? new Decimal(o.orderAmount).mul(pOrder).div(pPay).toFixed(8, Decimal.ROUND_UP) : '—';
        }
        return html`<label class="choice"><input type="radio" name="currency" value="${c}" ${i === 0 ? html`checked` : ''}>
          <span><strong>${due} ${c}</strong><br><span class="muted">Balance: ${new Decimal(bal).toFixed(8)} ${c}</span></span></label>`;
      });
      payBlock = html`<div class="card"><h2>Pay with your wallet</h2><p class="muted">Logged in as ${payer.email}</p>
        <form method="post" action="/checkout/${o.checkoutToken}/pay">
          <input type="hidden" name="csrf" value="${csrf}">${options}
          <button class="btn" id="pay" type="submit">Pay ${o.orderAmount} ${o.currency}</button>
        </form>
        <form method="post" action="/checkout/${o.checkoutToken}/logout"><input type="hidden" name="csrf" value="${csrf}"><button class="btn secondary" type="submit">Log out</button></form></div>`;
    }
    const done = ['PAID', 'REFUNDING', 'REFUNDED', 'FULL_REFUNDED'].includes(o.status);
    const body = html`<div data-checkout data-status="${status}" data-expire="${o.expireTime}" data-now="${now}">
      <div class="card">
        <div class="muted">${merchant?.name ?? 'Merchant'}</div>
        <h1>${o.description ?? o.productName}</h1>
        <div class="amount" id="amount">${o.orderAmount} ${o.currency}</div>
        ${o.fiatCurrency && o.fiatAmount ? html`<div class="muted">≈ ${o.fiatAmount} ${o.fiatCurrency}</div>` : ''}
        <div class="status ${st.cls}" id="status">${st.text}</div>
        ${open ? html`<p class="muted">Expires in <span class="countdown" id="countdown">--:--</span></p>` : ''}
        ${error ? html`<div class="error" role="alert">${error}</div>` : ''}
      </div>
      ${o.goods.length ? html`<div class="card"><h2>Items</h2>${o.goods.map((g: any) => html`<div class="row"><span>${g.goodsName}${g.goodsQuantity ? html` × ${g.goodsQuantity}` : ''}</span><span class="muted">${g.goodsDetail ?? ''}</span></div>`)}</div>` : ''}
      ${open ? html`<div class="card" style="text-align:center"><h2>Scan to pay</h2>
        <img class="qr" id="qr" src="/checkout/${o.checkoutToken}/qr.png" alt="QR code for this payment">
        <a class="btn secondary" id="deeplink" href="${checkoutUrl(o)}">Open in Rampart app</a></div>` : ''}
      ${payBlock}
      ${done && o.returnUrl ? html`<a class="btn" id="return" href="${o.returnUrl}">Return to merchant</a>` : ''}
      ${open && o.cancelUrl ? html`<a class="btn secondary" id="cancel" href="/checkout/${o.checkoutToken}/cancel">Cancel and return to merchant</a>` : ''}
    </div>`;
    reply.header('cache-control', 'no-store');
    return reply.type('text/html; charset=utf-8').send(page({ title: 'Checkout', body, mode: deps.mode, scripts: ['/assets/checkout.js'] }));
  }

  const notFound = (reply: FastifyReply) =>
    reply.code(404).type('text/html; charset=utf-8').send(page({ title: 'Not found', mode: deps.mode, body: html`<div class="card"><h1>Order not found</h1><p class="muted">This checkout link is not valid.</p></div>` }));

  app.get('/assets/checkout.js', { schema: hide }, async (_req, reply) => reply.type('application/javascript').header('cache-control', 'public, max-age=300').send(CHECKOUT_JS));

  app.get('/checkout/:token', { schema: hide }, async (req, reply) => {
    const o = await orders.getByCheckoutToken((req.params as any).token);
    return o ? render(req, reply, o) : notFound(reply);
  });

  app.get('/checkout/:token/qr.png', { schema: hide }, async (req, reply) => {
    const o = await orders.getByCheckoutToken((req.params as any).token);
    if (!o) return reply.code(404).send();
    const png = await QRCode.toBuffer(checkoutUrl(o), { type: 'png', width: 300, margin: 2, errorCorrectionLevel: 'M' });
    return reply.type('image/png').header('cache-control', 'public, max-age=3600').send(png);
  });

  app.get('/checkout/:token/status', { schema: hide }, async (req, reply) => {
    const o = await orders.getByCheckoutToken((req.params as any).token);
    if (!o) return reply.code(404).send({ error: 'not found' });
    const now = deps.clock.now();
    return reply.header('cache-control', 'no-store').send({ status: shownStatus(o, now), expireTime: o.expireTime, now });
  });

  app.post('/checkout/:token/login', { schema: hide, config: { rateLimit: { max: 10, timeWindow: '1 minute' } } }, async (req, reply) => {
    const o = await orders.getByCheckoutToken((req.params as any).token);
    if (!o) return notFound(reply);
    if (!csrfOk(req)) return reply.code(403).send('Invalid form token; reload the page.');
    const { email, password } = (req.body ?? {}) as Record<string, string>;
    const res = await accounts.authenticatePayer(String(email ?? ''), String(password ?? ''));
    if (!res.ok) return render(req, reply.code(401), o, 'Wrong email or password.');
    const s = await sessions.create('payer', String(res.value.payerId));
    reply.setCookie(SESSION_COOKIE, s.cookie, { path: '/', httpOnly: true, sameSite: 'lax', secure, maxAge: 12 * 3600 });
    return reply.redirect(`/checkout/${o.checkoutToken}`, 303);
  });

  app.post('/checkout/:token/logout', { schema: hide }, async (req, reply) => {
    if (!csrfOk(req)) return reply.code(403).send('Invalid form token; reload the page.');
    await sessions.destroy(req.cookies[SESSION_COOKIE]);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.redirect(`/checkout/${(req.params as any).token}`, 303);
  });

  app.post('/checkout/:token/pay', { schema: hide }, async (req, reply) => {
    const o = await orders.getByCheckoutToken((req.params as any).token);
    if (!o) return notFound(reply);
    if (!csrfOk(req)) return reply.code(403).send('Invalid form token; reload the page.');
    const payer = await payerOf(req);
    if (!payer) return render(req, reply.code(401), o, 'Please log in first.');
    const res = await orders.pay(o.prepayId, String(payer.payerId), (req.body as any)?.currency);
    if (!res.ok) return render(req, reply.code(409), (await orders.getByCheckoutToken(o.checkoutToken))!, res.message ?? 'Payment failed.');
    return reply.redirect(res.value.returnUrl ?? `/checkout/${o.checkoutToken}`, 303);
  });

  app.get('/checkout/:token/cancel', { schema: hide }, async (req, reply) => {
    const o = await orders.getByCheckoutToken((req.params as any).token);
    if (!o) return notFound(reply);
    return reply.redirect(o.cancelUrl ?? `/checkout/${o.checkoutToken}`, 303);
  });
}
