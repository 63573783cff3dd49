import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import countries from 'i18n-iso-countries';
import type { Sessions } from '../../accounts/service.ts';
import { SUPPORTED_CARD_COUNTRIES } from '../../cards/support.ts';
import type { Clock } from '../../platform/clock.ts';
import { randomString, safeEqual } from '../../platform/crypto.ts';
import { html, type SafeHtml } from '../../web/html.ts';
import { page } from '../../web/layout.ts';
import type { ConnectOrder } from '../orders/store.ts';
import type { Partner } from '../partners.ts';
import { DOCUMENT_TYPES, NO_ACQUIRER_MESSAGE, type BuyflowService, type BuyflowUser } from './service.ts';
import type { OrderForm, Step } from './purchase.ts';
import { err, ok, type Result } from '../../platform/errors.ts';
import { Decimal } from '../../platform/money.ts';

/**
 * The hosted buy-flow pages (binance-connect.md §6.1) at /en/connect/buyflow?token=…: one entry that shows the
 * step the user is at, forms that post and redirect back (CSRF double-submit cookie on every form), a small
 * script for codes, uploads, the quote countdown and live status. Framing is limited to the partner's
 * registered redirect domains.
 */
const BASE = '/en/connect/buyflow';
const SESSION = 'bf_session';
const PENDING = 'bf_pending';
const CSRF = 'bf_csrf';

const JS = `
(function(){
  var csrf=(document.querySelector('meta[name=csrf]')||{}).content; var token=new URLSearchParams(location.search).get('token');
  var rc=document.getElementById('resend');
  if(rc){ var left=Number(rc.getAttribute('data-left')); var t=function(){ if(left>0){ rc.disabled=true; rc.textContent='Resend code('+left+'s)'; left--; setTimeout(t,1000);} else { rc.disabled=false; rc.textContent='Resend code'; } }; t(); }
  var kf=document.getElementById('kyc-form')||document.getElementById('address-form');
  if(kf){ kf.addEventListener('submit',function(e){ e.preventDefault(); var fd=new FormData(kf); var body={csrf:csrf,files:{}}; var jobs=[];
    fd.forEach(function(v,k){ if(typeof v==='string'){ body[k]=v; } else if(v&&v.size){ jobs.push(new Promise(function(res){ var r=new FileReader(); r.onload=function(){ body.files[k]=String(r.result).split(',')[1]; res(); }; r.readAsDataURL(v); })); } });
    Promise.all(jobs).then(function(){ return fetch('${BASE}/'+(kf.getAttribute('data-action')||'kyc')+'?token='+token,{method:'POST',headers:{'content-type':'application/json'},body:JSON.stringify(body)}); })
      .then(function(r){ return r.json(); }).then(function(j){ if(j.ok||j.code==='REGION_RESTRICTED'){ location.href='${BASE}?token='+token; } else { var el=document.getElementById('kyc-error'); el.textContent=j.message; el.hidden=false; } }); }); }
  var cd=document.getElementById('countdown');
  if(cd){ var exp=Number(cd.getAttribute('data-expires')); var skew=Number(cd.getAttribute('data-now'))-Date.now(); var btn=document.getElementById('confirm-btn');
    var tick=function(){ var l=Math.max(0,Math.ceil((exp-(Date.now()+skew))/1000)); btn.textContent='Confirm ('+l+'s)';
      if(l<=0){ fetch('${BASE}/quote?token='+token,{method:'POST',headers:{'content-type':'application/json'},body:JSON.stringify({csrf:csrf})}).then(function(r){return r.json();}).then(function(q){
        ['cryptoAmount','quotePrice','userFee','networkFee'].forEach(function(k){ var el=document.getElementById('q-'+k); if(el&&el.textContent!==q[k]){ el.textContent=q[k]; el.className='changed'; el.style.background='#fff3bf'; } });
        exp=q.expiresAt; skew=q.now-Date.now(); setTimeout(tick,1000); }); } else setTimeout(tick,1000); }; tick(); }
  var cl=document.getElementById('challenge-left');
  if(cl){ var ce=Number(cl.getAttribute('data-expires')); var cs=Number(cl.getAttribute('data-now'))-Date.now();
    var ct=function(){ var l=Math.max(0,Math.ceil((ce-(Date.now()+cs))/1000)); if(l>0){ cl.textContent=l+' s'; setTimeout(ct,1000); } else { var p=document.getElementById('challenge-lock'); p.textContent=p.getAttribute('data-expired'); } }; ct(); }
  var st=document.querySelector('[data-live]');
  if(st){ var sub=st.getAttribute('data-sub'); var origins=(st.getAttribute('data-origins')||'').split(' ').filter(Boolean);
    var post=function(m){ if(window.parent!==window) origins.forEach(function(o){ try{ window.parent.postMessage(m,o); }catch(e){} }); };
    post({source:'rampart-connect',type:'ORDER_STATUS',merchantOrderId:st.getAttribute('data-moid'),orderId:st.getAttribute('data-oid'),orderMainStatus:st.getAttribute('data-main'),orderSubStatus:sub});
    var done=document.getElementById('done'); if(done) done.addEventListener('click',function(){ post({source:'rampart-connect',type:'CLOSE'}); });
    setInterval(function(){ fetch('${BASE}/state?token='+token,{cache:'no-store'}).then(function(r){return r.json();}).then(function(j){ if(j.key!==st.getAttribute('data-key')) location.reload(); }); },1500); }
})();`;

const STEPS = ['PAYMENT_PROCESSING', 'PURCHASE_PROCESSING', 'WITHDRAW_PROCESSING', 'COMPLETED'];
const STEP_NAMES = ['Payment', 'Purchase', 'Withdrawal', 'Completed'];
const FIAT_SYMBOL: Record<string, string> = { USD: '$', EUR: '€', GBP: '£', AUD: 'A$', BRL: 'R$', TRY: '₺' };

/** What the person reads on the confirm page after an attempt failed (the order is back to CREATED). */
const PAYMENT_PROBLEMS: Record<string, string> = {
  CARD_DECLINED: 'Your card was declined by its issuer. Nothing was charged. Choose another card or add a new one.',
  INSUFFICIENT_FUNDS: 'Your card has insufficient funds for this payment. Nothing was charged. Choose another card or add a new one.',
  THREE_DS_FAILED: 'The 3-D Secure check was not passed, so nothing was charged. Try again or choose another card.',
  QUOTE_EXPIRED: 'The price lock expired before the payment was approved, so nothing was charged. Review the new price and confirm again.',
};
const CARD_FAILURE_TAGS: Record<string, string> = { CARD_DECLINED: 'Declined', INSUFFICIENT_FUNDS: 'Insufficient funds', THREE_DS_FAILED: '3-D Secure failed' };
/** The status page's headline for an order that ended FAILED, by errorCode (the partner sees the code and §5.2 reason). */
const FAILURE_HEADLINES: Record<string, string> = {
  REGION_RESTRICTED: 'Not available in your region',
  LIMIT_EXCEEDED: 'Daily limit reached',
  PURCHASE_FAILED: 'Purchase failed: your payment was refunded',
  USER_CANCELLED: 'Order cancelled',
  ORDER_EXPIRED: 'Order expired',
};
/** Which of the four progress steps an error code stops the order at. */
const FAILED_AT: Record<string, number> = { PURCHASE_FAILED: 1, WITHDRAW_FAILED: 2 };

/**
 * The order's progress and figures (pure): the steps with the current one highlighted, the locked price and amounts
 * (the quote locked at confirm until the purchase records the executed ones), the transaction as a link when the
 * network has an explorer.
 */
export function orderStatusView(v: { order: ConnectOrder; locked: { quotePrice: string; userFee: string; networkFee: string; cryptoAmount: string } | null; txHash: string | null; txUrl: string | null }): SafeHtml {
  const o = v.order;
  const positive = (x: string) => (new Decimal(x).gt(0) ? x : null);
  const price = positive(o.executePrice) ?? v.locked?.quotePrice ?? o.quotePrice;
  const receive = positive(o.obtainAmount) ?? v.locked?.cryptoAmount ?? null;
  const fee = v.locked?.userFee ?? o.userFee;
  const networkFee = v.locked?.networkFee ?? o.networkFee;
  const failed = o.subStatus === 'FAILED' || o.subStatus === 'WITHDRAW_FAILED';
  const at = o.subStatus === 'COMPLETED' ? 4 : failed ? (FAILED_AT[o.errorCode ?? ''] ?? 0) : Math.max(0, STEPS.indexOf(o.subStatus));
  const headline = o.subStatus === 'FAILED' ? (FAILURE_HEADLINES[o.errorCode ?? ''] ?? 'Payment failed') : o.subStatus === 'COMPLETED' ? 'Completed' : o.subStatus === 'WITHDRAW_FAILED' ? 'Withdrawal failed' : STATUS_HEADLINES[o.subStatus] ?? o.subStatus;
  return html`<h1>Order status</h1>
    <div class="status ${o.mainStatus === 'SUCCESS' ? 'ok' : failed ? 'bad' : 'wait'}" id="order-status" data-status="${o.subStatus}">${headline}</div>
    <ol class="steps" id="progress">${STEP_NAMES.map((n, i) => html`<li class="${i < at ? 'done' : i === at ? (failed ? 'failed' : 'current') : 'next'}"${i === Math.min(at, STEPS.length - 1) ? html` aria-current="step"` : ''}>${n}</li>`)}</ol>
    ${o.errorReason ? html`<div class="error" id="error-reason">${o.errorReason}</div>` : ''}
    <div class="row"><span>You pay</span><span id="pay-amount">${o.orderAmount} ${o.fiatCurrency}</span></div>
    <div class="row"><span>Price</span><span id="price">1 ${o.cryptoCurrency} = ${price} ${o.fiatCurrency}</span></div>
    <div class="row"><span>Transaction fee</span><span>${fee} ${o.fiatCurrency}</span></div>
    <div class="row"><span>Network fee</span><span>${networkFee} ${o.cryptoCurrency}</span></div>
    ${receive ? html`<div class="row"><span>You receive</span><span id="obtain">${receive} ${o.cryptoCurrency}</span></div>` : ''}
    <div class="row"><span>Send to</span><span style="word-break:break-all">${o.cryptoAddress}</span></div>
    ${v.txHash ? html`<div class="row"><span>Transaction</span>${v.txUrl ? html`<a id="tx-hash" href="${v.txUrl}" target="_blank" rel="noopener" style="word-break:break-all">${v.txHash}</a>` : html`<span id="tx-hash" style="word-break:break-all">${v.txHash}</span>`}</div>` : ''}`;
}
/** What the status and challenge pages poll for (GET /state): the page reloads when it changes. */
const liveKey = (step: Step, o: ConnectOrder, txHash: string | null) => `${step}:${o.subStatus}:${txHash ?? ''}`;
const STATUS_HEADLINES: Record<string, string> = { PAYMENT_PROCESSING: 'Processing your payment', PURCHASE_PROCESSING: 'Buying your crypto', WITHDRAW_PROCESSING: 'Sending to your wallet' };

export function registerBuyflowRoutes(app: FastifyInstance, deps: {
  buyflow: BuyflowService; sessions: Sessions; clock: Clock; publicUrl: string; mode: 'sandbox' | 'production';
  /** A link to the network's block explorer for a transaction, or null where there is none (the sandbox's dev chains). */
  explorerTxUrl: (network: string, hash: string) => string | null;
}) {
  const { buyflow, sessions, clock, mode } = deps;
  const secure = deps.publicUrl.startsWith('https://');
  const cookieOpts = { path: BASE, httpOnly: true, secure, sameSite: (secure ? 'none' : 'lax') as 'none' | 'lax' };
  const brand = buyflow.brand;

  function csrfFor(req: FastifyRequest, reply: FastifyReply): string {
    let t = req.cookies[CSRF];
    if (!t || !/^[a-z0-9]{32}$/.test(t)) {
      t = randomString(32);
      reply.setCookie(CSRF, t, cookieOpts);
    }
    return t;
  }
  const csrfOk = (req: FastifyRequest) => {
    const c = req.cookies[CSRF];
    const f = (req.body as any)?.csrf;
    return typeof c === 'string' && typeof f === 'string' && safeEqual(c, f);
  };

  /** iframe embedding: only the partner's registered redirect domains (spec §6.1 iframe). */
  function frameHeaders(reply: FastifyReply, partner: Partner | null) {
    const origins = (partner?.redirectDomains ?? []).flatMap((d) => (mode === 'sandbox' ? [`https://${d}`, `http://${d}`] : [`https://${d}`]));
    reply.removeHeader('x-frame-options');
    if (origins.length === 0) reply.header('x-frame-options', 'DENY');
    reply.header('content-security-policy',
      `default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors ${origins.length ? origins.join(' ') : "'none'"}`);
    return origins;
  }

  const render = (reply: FastifyReply, csrf: string, title: string, body: SafeHtml) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-store')
      .send(page({ title, mode, body: html`<meta name="csrf" content="${csrf}">${body}`, scripts: [`${BASE}/app.js`] }));

  async function sessionUser(req: FastifyRequest): Promise<BuyflowUser | null> {
    const s = await sessions.get(req.cookies[SESSION], 'buyflow');
    return s ? buyflow.getUser(s.subjectId) : null;
  }

  const tokenOf = (req: FastifyRequest) => String((req.query as any)?.token ?? '');
  const back = (token: string, extra = '') => `${BASE}?token=${encodeURIComponent(token)}${extra}`;
  const errBox = (m: unknown) => (m ? html`<div class="error" role="alert">${String(m)}</div>` : '');

  app.get(`${BASE}/app.js`, { schema: { hide: true } }, async (_req, reply) => reply.type('application/javascript').header('cache-control', 'no-cache').send(JS));

  app.get(BASE, { schema: { hide: true } }, async (req, reply) => {
    const token = tokenOf(req);
    const q = req.query as Record<string, string | undefined>;
    const found = await buyflow.orderByToken(token);
    const csrf = csrfFor(req, reply);
    if (!found || (found.order.mainStatus === 'INIT' && found.order.expiredTime <= clock.now()) || (found.order.subStatus === 'FAILED' && found.order.errorCode === 'ORDER_EXPIRED')) {
      frameHeaders(reply, found?.partner ?? null);
      return render(reply, csrf, 'Order expired', html`<div class="card"><h1>Order expired</h1><p class="muted">This link is no longer valid. Return to the app and start a new purchase.</p>
        ${found?.order.merchantRedirectUrl ? html`<a class="btn" id="close" href="${found.order.merchantRedirectUrl}">Back to ${found.partner.name}</a>` : ''}</div>`);
    }
    const { order, partner } = found;
    const origins = frameHeaders(reply, partner);
    const user = await sessionUser(req);

    if (!user) {
      if (q.step === 'verify') {
        const pending = await sessions.get(req.cookies[PENDING], 'buyflow_pending');
        const pu = pending ? await buyflow.getUser(pending.subjectId) : null;
        if (pu) return render(reply, csrf, 'Verification', verifyPage(token, csrf, pu, q.error, q.sent));
      }
      const login = q.step === 'login' || (q.step !== 'signup' && (await buyflow.boundUser(order.partnerCode, order.merchantUserId)) !== null);
      return render(reply, csrf, login ? 'Log in' : 'Create account', accountPage(token, csrf, login, q.error));
    }
    const attached = await buyflow.attach(order, user.id);
    if (!attached.ok) return render(reply, csrf, 'Not your order', html`<div class="card"><h1>Not your order</h1>${errBox(attached.message)}</div>`);
    const step = (await buyflow.step(order.orderId)) ?? 'OPEN';
    if (step === 'CHALLENGE') return render(reply, csrf, '3-D Secure', challengePage(token, csrf, order, found.bf, origins, q.error));
    if (step !== 'OPEN' || order.mainStatus !== 'INIT') return render(reply, csrf, 'Order status', await statusPage(token, csrf, order, partner, origins, found.bf, step, q.error));

    const k = await buyflow.kycState(user, order);
    // The broker's record puts the person in a restricted region: the order has just failed; show it.
    if (k.state === 'RESTRICTED') return reply.redirect(back(token), 303);
    if (k.state === 'NEEDED' || k.state === 'REJECTED') return render(reply, csrf, 'Verify your identity', kycPage(token, csrf, k.state === 'REJECTED' ? k.reason : null));
    if (k.state === 'REVIEW') {
      return render(reply, csrf, 'Under Review', html`<div class="card" data-live data-key="${order.subStatus}:${k.state}" data-sub="${order.subStatus}" data-main="${order.mainStatus}" data-moid="${order.merchantOrderId}" data-oid="${order.orderId}" data-origins="${origins.join(' ')}">
        <h1>Under Review</h1><p>Your Intermediate Verification is under review. Estimated completion date: <b id="eta">${k.expectTime ? new Date(k.expectTime).toISOString().slice(0, 10) : ''} (UTC)</b>.</p>
        <p class="muted">This information is used for intermediate verification only, and is kept private and confidential by ${brand}.</p></div>`);
    }
    if (q.step === 'address') {
      const a = await buyflow.syncAddress(user.id);
      return render(reply, csrf, 'Verify your address', addressPage(token, a.state, a.state === 'REJECTED' ? a.reason : null));
    }
    if (!buyflow.cardPaymentsAvailable) return render(reply, csrf, 'Add new card', html`<div class="card"><h1>Card payment unavailable</h1>${errBox(NO_ACQUIRER_MESSAGE)}</div>`);
    const cards = await buyflow.cards(user.id);
    if (q.step === 'addcard' || cards.length === 0) return render(reply, csrf, 'Add new card', cardPage(token, csrf, q.error));
    let quote = buyflow.lockedOf(found.bf);
    if (!quote || quote.expiresAt < clock.now()) {
      const l = await buyflow.lockQuote(order.orderId, user.id);
      if (!l.ok) return render(reply, csrf, 'Confirm Payment', html`<div class="card">${errBox(l.message)}</div>`);
      quote = l.value;
    }
    const sym = FIAT_SYMBOL[order.fiatCurrency] ?? `${order.fiatCurrency} `;
    const chosen = cards.find((c) => c.id === q.card) ?? cards[0];
    const today = new Date(clock.now()).toISOString().slice(0, 10);
    // Why the last attempt failed, until the person has just added a card that has not failed (the failed ones keep their tag).
    const problem = q.error ?? (order.errorCode && !(q.card === chosen.id && !chosen.lastFailure) ? PAYMENT_PROBLEMS[order.errorCode] : undefined);
    return render(reply, csrf, 'Confirm Payment', html`<div class="card"><h1>Confirm Payment</h1>${problem ? html`<div class="error" role="alert" id="payment-error">${problem}</div>` : ''}
      <div class="muted">You receive</div><div class="amount"><span id="q-cryptoAmount">${quote.cryptoAmount}</span> ${order.cryptoCurrency}</div>
      <h2>Payment details</h2>
      <div class="row"><span>You pay</span><span id="you-pay">${sym}${order.orderAmount}</span></div>
      <div class="row"><span>Price</span><span>1 ${order.cryptoCurrency} = <span id="q-quotePrice">${quote.quotePrice}</span> ${order.fiatCurrency}</span></div>
      <div class="row"><span>Transaction fee</span><span>${sym}<span id="q-userFee">${quote.userFee}</span></span></div>
      <div class="row"><span>Network fee</span><span><span id="q-networkFee">${quote.networkFee}</span> ${order.cryptoCurrency}</span></div>
      <form method="post" action="${BASE}/confirm?token=${token}"><input type="hidden" name="csrf" value="${csrf}">
      <h2>Payment method</h2>${cards.map((c) => html`<label class="choice" data-card="${c.last4}"><input type="radio" name="cardId" value="${c.id}" ${c.id === chosen.id ? html`checked` : ''}> ${c.brand === 'VISA' ? 'Visa' : 'Mastercard'} ****${c.last4}${c.lastFailure ? html`<span class="tag">${CARD_FAILURE_TAGS[c.lastFailure] ?? 'Failed last time'}</span>` : ''}</label>`)}
      <a href="${back(token, '&step=addcard')}">Add new card</a>
      ${user.kycLevel === 'VERIFIED' ? html`<p class="muted"><a id="address-link" href="${back(token, '&step=address')}">Verify your address</a> to raise your daily limit from 50,000 to 200,000 USD.</p>` : ''}
      <h2>Send to</h2><div id="send-to" style="word-break:break-all">${order.cryptoAddress}</div><div class="muted">Network ${order.cryptoNetwork}${order.cryptoAddressMemo ? html` · Memo ${order.cryptoAddressMemo}` : ''}</div>
      <p class="muted">I agree to ${brand} Terms of Use and Privacy Policy and I authorize ${brand} to debit my chosen payment method for the amount above on ${today}.</p>
      <span id="countdown" data-expires="${quote.expiresAt}" data-now="${clock.now()}" hidden></span>
      <button class="btn" id="confirm-btn" type="submit">Confirm (59s)</button></form>
      <form method="post" action="${BASE}/close?token=${token}"><input type="hidden" name="csrf" value="${csrf}"><button class="btn secondary" id="cancel-order" type="submit">Cancel order</button></form></div>`);
  });

  /** The sandbox acquirer's 3-D Secure page (a real acquirer shows the issuer's own): approve within the price lock. */
  function challengePage(token: string, csrf: string, o: ConnectOrder, bf: any, origins: string[], error?: string) {
    const quote = buyflow.lockedOf(bf);
    const left = quote ? Math.max(0, Math.ceil((quote.expiresAt - clock.now()) / 1000)) : 0;
    return html`<div class="card" data-live data-key="${liveKey('CHALLENGE', o, null)}" data-sub="${o.subStatus}" data-main="${o.mainStatus}" data-moid="${o.merchantOrderId}" data-oid="${o.orderId}" data-origins="${origins.join(' ')}">
      <h1>3-D Secure</h1>${errBox(error)}<p>Your bank asks you to approve this payment of <b>${o.orderAmount} ${o.fiatCurrency}</b> to ${brand}.</p>
      ${quote ? html`<p class="muted" id="challenge-lock" data-expired="The locked price of ${quote.quotePrice} ${o.fiatCurrency} per ${o.cryptoCurrency} has expired: nothing will be charged at it. Approve or cancel to see a new price.">Approve within <span class="countdown" id="challenge-left" data-expires="${quote.expiresAt}" data-now="${clock.now()}">${left} s</span> to buy at the locked price of ${quote.quotePrice} ${o.fiatCurrency} per ${o.cryptoCurrency}. After that, nothing is charged and you get a new price.</p>` : ''}
      <form method="post" action="${BASE}/3ds?token=${token}"><input type="hidden" name="csrf" value="${csrf}"><button class="btn" name="result" value="pass" id="approve-3ds">Approve</button><button class="btn secondary" name="result" value="fail" id="fail-3ds">Cancel</button></form></div>`;
  }

  function accountPage(token: string, csrf: string, login: boolean, error?: string) {
    return html`<div class="card"><h1>${login ? `Log in to ${brand}` : `Create Account on ${brand}`}</h1>
      ${login ? html`<p class="muted">New here? <a href="${back(token, '&step=signup')}">Create account</a></p>` : html`<p class="muted">Already have an account? <a id="login-link" href="${back(token, '&step=login')}">Log in</a></p>`}
      ${errBox(error)}
      <form method="post" action="${BASE}/${login ? 'login' : 'signup'}?token=${token}"><input type="hidden" name="csrf" value="${csrf}">
      <label class="choice"><input type="radio" name="kind" value="email" checked> Email</label><label class="choice"><input type="radio" name="kind" value="phone"> Phone Number</label>
      <label for="identifier">Email / Phone Number (with country calling code)</label><input type="text" id="identifier" name="identifier" required maxlength="254">
      <label for="password">${login ? 'Password' : 'Create Password'}</label><input type="password" id="password" name="password" required maxlength="128">
      <button class="btn" type="submit">Continue</button></form></div>`;
  }

  function verifyPage(token: string, csrf: string, u: BuyflowUser, error?: string, sent?: string) {
    return html`<div class="card"><h1>${u.kind === 'email' ? 'Email' : 'Phone'} Verification</h1>
      ${sent ? html`<div class="status ok">${u.kind === 'email' ? 'Email code sent successfully' : 'SMS code sent successfully'}</div>` : ''}
      <p>Please enter the 6-digit verification code that was sent to ${u.identifier}.</p>${errBox(error)}
      <form method="post" action="${BASE}/verify?token=${token}"><input type="hidden" name="csrf" value="${csrf}">
      <label for="code">Verification Code</label><input type="text" id="code" name="code" inputmode="numeric" pattern="[0-9]{6}" maxlength="6" autocomplete="one-time-code" required>
      ${u.consentAt === null ? html`<label class="choice"><input type="checkbox" name="terms" value="1" id="terms"> I agree with ${brand}'s Terms of Use and Privacy Policy</label>
      <label class="choice"><input type="checkbox" name="marketing" value="1"> Send me news and exclusive offers from ${brand}</label>` : ''}
      <button class="btn" type="submit">Continue</button></form>
      <form method="post" action="${BASE}/resend?token=${token}"><input type="hidden" name="csrf" value="${csrf}"><button class="btn secondary" id="resend" data-left="59" type="submit">Resend code(59s)</button></form></div>`;
  }

  function kycPage(token: string, csrf: string, rejected: string | null) {
    const names = countries.getNames('en');
    const options = Object.entries(names).sort((a, b) => a[1].localeCompare(b[1])).map(([c, n]) => html`<option value="${c}">${n}</option>`);
    return html`<div class="card"><h1>Select Country of Residence</h1>
      ${rejected ? html`<div class="error" id="kyc-rejected">Your verification was rejected: ${rejected}. Please correct and resubmit.</div>` : ''}
      <p class="muted">Please ensure your country of residence matches your valid ID. Your privileges could change based on the selection. Learn more in the Verification Center.</p>
      <div class="error" id="kyc-error" hidden></div>
      <form id="kyc-form"><label for="country">Country of residence</label><select id="country" name="country" required><option value="">Select country of residence</option>${options}</select>
      <label for="nationality">Nationality</label><select id="nationality" name="nationality"><option value="">Same as country of residence</option>${options}</select>
      <label for="firstName">First name</label><input type="text" id="firstName" name="firstName" required maxlength="64">
      <label for="lastName">Last name</label><input type="text" id="lastName" name="lastName" required maxlength="64">
      <label for="dateOfBirth">Date of birth</label><input type="text" id="dateOfBirth" name="dateOfBirth" placeholder="YYYY-MM-DD" required>
      <label for="documentType">Document type</label><select id="documentType" name="documentType">${DOCUMENT_TYPES.map((d) => html`<option value="${d}">${d.replace('_', ' ').toLowerCase()}</option>`)}</select>
      <label for="idCountry">Country of issue of the ID</label><select id="idCountry" name="idCountry" required><option value="">Select</option>${options}</select>
      <label for="front">Front of the document (JPEG, PNG or PDF, max 5 MB)</label><input type="file" id="front" name="front" accept="image/jpeg,image/png,application/pdf">
      <label for="back">Back of the document</label><input type="file" id="back" name="back" accept="image/jpeg,image/png,application/pdf">
      <label for="selfie">Selfie</label><input type="file" id="selfie" name="selfie" accept="image/jpeg,image/png">
      <button class="btn" type="submit">Next</button></form></div>`;
  }

  function addressPage(token: string, state: string, rejected: string | null) {
    if (state === 'VERIFIED_PLUS') return html`<div class="card"><h1>Address verified</h1><p>Your daily limit is 200,000 USD.</p><a class="btn" href="${back(token)}">Continue</a></div>`;
    if (state === 'REVIEW') return html`<div class="card"><h1>Under Review</h1><p id="address-review">Your proof of address is under review. Your daily limit stays 50,000 USD meanwhile.</p><a class="btn" href="${back(token)}">Continue</a></div>`;
    return html`<div class="card"><h1>Verify your address</h1>
      ${rejected ? html`<div class="error" id="address-rejected">Your proof of address was rejected: ${rejected}. Please upload another document.</div>` : ''}
      <p class="muted">Verified Plus raises your daily limit to 200,000 USD. Upload a utility bill or bank statement of the last 3 months showing your name and address.</p>
      <div class="error" id="kyc-error" hidden></div>
      <form id="address-form" data-action="address"><label for="addressLine">Residential address</label><input type="text" id="addressLine" name="addressLine" required maxlength="200">
      <label for="city">City</label><input type="text" id="city" name="city" required maxlength="100">
      <label for="postalCode">Postal code</label><input type="text" id="postalCode" name="postalCode" maxlength="20">
      <label for="proof">Proof of address (JPEG, PNG or PDF, max 5 MB)</label><input type="file" id="proof" name="proof" accept="image/jpeg,image/png,application/pdf">
      <button class="btn" type="submit">Submit</button></form>
      <p><a href="${back(token)}">Not now</a></p></div>`;
  }

  function cardPage(token: string, csrf: string, error?: string) {
    return html`<div class="card"><h1>Add new card</h1><div class="muted">1 — 2 · Enter card information</div>${errBox(error)}
      <form method="post" action="${BASE}/card?token=${token}"><input type="hidden" name="csrf" value="${csrf}">
      <label for="name">Name on Card</label><input type="text" id="name" name="name" autocomplete="cc-name" required maxlength="64">
      <label for="number">Card Number</label><input type="text" id="number" name="number" inputmode="numeric" autocomplete="cc-number" required maxlength="23">
      <label for="expiry">Expiry Date (MM/YY)</label><input type="text" id="expiry" name="expiry" autocomplete="cc-exp" required maxlength="7">
      <label for="cvv">Security Code (CVV)</label><input type="password" id="cvv" name="cvv" inputmode="numeric" autocomplete="cc-csc" required maxlength="3">
      <button class="btn" type="submit">Next</button></form>
      <p class="muted">Visa and Mastercard are accepted in ${SUPPORTED_CARD_COUNTRIES.filter((r) => r.visa || r.mastercard).length} countries.</p></div>`;
  }

  async function statusPage(token: string, csrf: string, o: ConnectOrder, partner: Partner, origins: string[], bf: any, step: Step, error?: string) {
    const w = await buyflow.withdrawalOf(o.orderId);
    const txHash = o.withdrawTxHash ?? w?.txHash ?? null;
    return html`<div class="card" data-live data-key="${liveKey(step, o, txHash)}" data-sub="${o.subStatus}" data-main="${o.mainStatus}" data-moid="${o.merchantOrderId}" data-oid="${o.orderId}" data-origins="${origins.join(' ')}">
      ${errBox(error)}${orderStatusView({ order: o, locked: buyflow.lockedOf(bf), txHash, txUrl: txHash ? deps.explorerTxUrl(o.cryptoNetwork, txHash) : null })}
      ${o.subStatus === 'WITHDRAW_FAILED' ? html`<form method="post" action="${BASE}/retry?token=${token}"><input type="hidden" name="csrf" value="${csrf}"><button class="btn" id="retry" type="submit">Retry withdrawal</button></form>` : ''}
      ${o.merchantRedirectUrl ? html`<a class="btn secondary" id="close" href="${o.merchantRedirectUrl}">Back to ${partner.name}</a>` : html`<button class="btn secondary" id="done" type="button">Done</button>`}</div>`;
  }

  // ---- form posts (each checks CSRF, then redirects back to the entry) ----

  async function post(req: FastifyRequest, reply: FastifyReply, fn: (token: string, body: Record<string, any>) => Promise<string>) {
    const token = tokenOf(req);
    if (!csrfOk(req)) return reply.code(403).type('text/plain').send('Invalid form token. Reload the page.');
    return reply.redirect(await fn(token, (req.body ?? {}) as Record<string, any>), 303);
  }
  const withError = (token: string, step: string, message?: string) => back(token, `${step ? `&step=${step}` : ''}&error=${encodeURIComponent(message ?? 'Something went wrong.')}`);
  const limited = { config: { rateLimit: { max: 20, timeWindow: '1 minute' } }, schema: { hide: true } };

  app.post(`${BASE}/signup`, limited, (req, reply) => post(req, reply, async (token, b) => {
    const r = await buyflow.signup({ kind: b.kind, identifier: b.identifier, password: b.password });
    if (!r.ok) return withError(token, r.code === 'ACCOUNT_EXISTS' ? 'login' : 'signup', r.message);
    const s = await sessions.create('buyflow_pending', r.value.userId);
    reply.setCookie(PENDING, s.cookie, cookieOpts);
    return back(token, '&step=verify&sent=1');
  }));
  app.post(`${BASE}/login`, limited, (req, reply) => post(req, reply, async (token, b) => {
    const r = await buyflow.login({ kind: b.kind, identifier: b.identifier, password: b.password });
    if (!r.ok) return withError(token, 'login', r.message);
    const s = await sessions.create('buyflow_pending', r.value.userId);
    reply.setCookie(PENDING, s.cookie, cookieOpts);
    return back(token, '&step=verify&sent=1');
  }));
  app.post(`${BASE}/resend`, limited, (req, reply) => post(req, reply, async (token) => {
    const p = await sessions.get(req.cookies[PENDING], 'buyflow_pending');
    if (!p) return back(token);
    const r = await buyflow.sendCode(p.subjectId);
    return r.ok ? back(token, '&step=verify&sent=1') : withError(token, 'verify', r.message);
  }));
  app.post(`${BASE}/verify`, limited, (req, reply) => post(req, reply, async (token, b) => {
    const p = await sessions.get(req.cookies[PENDING], 'buyflow_pending');
    if (!p) return back(token);
    const r = await buyflow.verifyCode(p.subjectId, String(b.code ?? '').trim(), { terms: b.terms === '1', marketing: b.marketing === '1' });
    if (!r.ok) return withError(token, 'verify', r.message);
    await sessions.destroy(req.cookies[PENDING]);
    reply.clearCookie(PENDING, { path: BASE });
    const s = await sessions.create('buyflow', r.value.id);
    reply.setCookie(SESSION, s.cookie, cookieOpts);
    return back(token);
  }));
  /**
   * The link's order and the session's user, if the form applies to them now (purchase.ts FORM_APPLIES): another
   * user's order, or an order past the point where the form means anything, is refused before anything runs.
   */
  async function formContext(req: FastifyRequest, form: OrderForm): Promise<Result<{ order: ConnectOrder; user: BuyflowUser }>> {
    const found = await buyflow.orderByToken(tokenOf(req));
    const user = await sessionUser(req);
    if (!found || !user) return err('LOGIN_REQUIRED', 'Please log in again.');
    const applies = await buyflow.formApplies(found.order, user.id, form);
    return applies.ok ? ok({ order: found.order, user }) : applies;
  }
  const refusedJson = (reply: FastifyReply, r: { code: string; message?: string }) =>
    reply.code(r.code === 'LOGIN_REQUIRED' ? 401 : r.code === 'ORDER_OF_ANOTHER_USER' ? 403 : 409).send({ ok: false, code: r.code, message: r.message });

  app.post(`${BASE}/kyc`, { bodyLimit: 24 * 1024 * 1024, schema: { hide: true } }, async (req, reply) => {
    if (!csrfOk(req)) return reply.code(403).send({ ok: false, message: 'Invalid form token. Reload the page.' });
    const c = await formContext(req, 'kyc');
    if (!c.ok) return refusedJson(reply, c);
    const b = req.body as Record<string, any>;
    const files = (['front', 'back', 'selfie'] as const).flatMap((field) => (typeof b.files?.[field] === 'string' ? [{ field, bytes: Buffer.from(b.files[field], 'base64') }] : []));
    const r = await buyflow.submitKyc(c.value.user, c.value.order, {
      country: b.country, idCountry: b.idCountry, nationality: b.nationality, documentType: b.documentType, firstName: b.firstName, lastName: b.lastName, dateOfBirth: b.dateOfBirth, files,
    });
    return r.ok ? { ok: true } : reply.code(400).send({ ok: false, code: r.code, message: r.message });
  });
  app.post(`${BASE}/address`, { bodyLimit: 8 * 1024 * 1024, schema: { hide: true } }, async (req, reply) => {
    if (!csrfOk(req)) return reply.code(403).send({ ok: false, message: 'Invalid form token. Reload the page.' });
    const c = await formContext(req, 'address');
    if (!c.ok) return refusedJson(reply, c);
    const b = req.body as Record<string, any>;
    const r = await buyflow.submitProofOfAddress(c.value.user.id, {
      addressLine: b.addressLine, city: b.city, postalCode: b.postalCode, file: typeof b.files?.proof === 'string' ? Buffer.from(b.files.proof, 'base64') : null,
    });
    return r.ok ? { ok: true } : reply.code(400).send({ ok: false, code: r.code, message: r.message });
  });
  app.post(`${BASE}/quote`, { schema: { hide: true } }, async (req, reply) => {
    if (!csrfOk(req)) return reply.code(403).send({ message: 'Invalid form token.' });
    const c = await formContext(req, 'quote');
    if (!c.ok) return refusedJson(reply, c);
    const l = await buyflow.lockQuote(c.value.order.orderId, c.value.user.id);
    return l.ok ? { ...l.value, now: clock.now() } : reply.code(409).send({ ok: false, code: l.code, message: l.message });
  });

  /** A redirecting form on an order: refused with its message on the entry page, or run. */
  const orderForm = (form: OrderForm, fn: (c: { order: ConnectOrder; user: BuyflowUser }, token: string, b: Record<string, any>) => Promise<string>) =>
    (req: FastifyRequest, reply: FastifyReply) => post(req, reply, async (token, b) => {
      const c = await formContext(req, form);
      if (!c.ok) return c.code === 'LOGIN_REQUIRED' ? back(token) : withError(token, '', c.message);
      return fn(c.value, token, b);
    });
  app.post(`${BASE}/card`, limited, orderForm('card', async ({ user }, token, b) => {
    const r = await buyflow.addCard(user, { name: b.name, number: b.number, expiry: b.expiry, cvv: b.cvv });
    return r.ok ? back(token, `&card=${r.value.id}`) : withError(token, 'addcard', r.message);
  }));
  // Confirm, 3-D Secure and retry return to the entry page, which shows where the order now stands (the challenge,
  // the confirm page with why the card failed, or the progress).
  app.post(`${BASE}/confirm`, limited, orderForm('confirm', async ({ order, user }, token, b) => {
    const r = await buyflow.confirm(order.orderId, user.id, String(b.cardId ?? ''));
    return r.ok ? back(token) : withError(token, '', r.message);
  }));
  app.post(`${BASE}/3ds`, limited, orderForm('3ds', async ({ order, user }, token, b) => {
    const r = await buyflow.completeChallenge(order.orderId, user.id, b.result === 'pass');
    return r.ok ? back(token) : withError(token, '', r.message);
  }));
  app.post(`${BASE}/retry`, limited, orderForm('retry', async ({ order, user }, token) => {
    const r = await buyflow.retryWithdrawal(order.orderId, user.id);
    return r.ok ? back(token) : withError(token, '', r.message);
  }));
  app.post(`${BASE}/close`, limited, orderForm('close', async ({ order, user }, token) => {
    const r = await buyflow.close(order.orderId, user.id);
    return r.ok ? back(token) : withError(token, '', r.message);
  }));
  app.get(`${BASE}/state`, { schema: { hide: true } }, async (req, reply) => {
    const found = await buyflow.orderByToken(tokenOf(req));
    if (!found) return reply.code(404).send({ key: 'GONE' });
    const user = await sessionUser(req);
    if (user && found.order.subStatus === 'KYC_REVIEW' && found.order.mainStatus === 'INIT') {
      const k = await buyflow.kycState(user, found.order);
      const sub = `${found.order.subStatus}:${k.state}`;
      if (k.state === 'REVIEW') return { key: sub };
      return { key: `${sub}:changed` };
    }
    const w = found.order.mainStatus === 'INIT' ? null : await buyflow.withdrawalOf(found.order.orderId);
    const step = (await buyflow.step(found.order.orderId)) ?? 'OPEN';
    return { key: liveKey(step, found.order, found.order.withdrawTxHash ?? w?.txHash ?? null), orderMainStatus: found.order.mainStatus, orderSubStatus: found.order.subStatus };
  });
}
