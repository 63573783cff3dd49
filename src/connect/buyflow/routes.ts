import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { PAYER_SESSION_COOKIE, PAYER_SESSION_SUBJECT, payerCookieOptions } from '../../accounts/people.ts';
import type { Sessions } from '../../accounts/service.ts';
import type { Clock } from '../../platform/clock.ts';
import { err, ok, type Result } from '../../platform/errors.ts';
import { html, type SafeHtml } from '../../web/html.ts';
import { createPageHelper, csrfCookie, formText, parseForm, serveScript } from '../../web/page.ts';
import type { ConnectOrder } from '../orders/store.ts';
import type { Partner } from '../partners.ts';
import { isSendPrimary, type OrderForm } from './purchase.ts';
import { NO_ACQUIRER_MESSAGE, type BuyflowService, type BuyflowUser } from './service.ts';
import {
  BASE,
  accountView,
  addressView,
  back,
  cardUnavailableView,
  cardView,
  challengeView,
  confirmView,
  errorCardView,
  expiredView,
  kycReviewView,
  kycView,
  linkNotValidView,
  liveKey,
  notYourOrderView,
  partnerDisplayName,
  sendView,
  returnLink,
  statusView,
  verifyView,
  type Page,
} from './views.ts';

/**
 * The hosted buy-flow pages (binance-connect.md §6.1) at /en/connect/buyflow?token=…: one entry that shows the
 * step the user is at, forms that post and redirect back (CSRF double-submit cookie on every form), a small
 * script (src/web/assets/buyflow.js) for codes, uploads, the quote countdown and live status. Framing is limited
 * to the partner's registered redirect domains for a gen-1 order and forbidden for a gen-2 one. Generation 2's links
 * (binance-connect-v2.md §4.7 link, §8 orderDetailLink) lead here too. The pages are in views.ts.
 */
const SESSION = 'bf_session';
const PENDING = 'bf_pending';
const CSRF = 'bf_csrf';
/** Sends the person back to the partner at once where a gen-2 order asked for AUTO_REDIRECTION (§7). */
const RETURN_SCRIPT = `${BASE}/return.js`;

// The form bodies, parsed at the edge: a body that does not fit shows the page's error, never a 500.
const text = formText.transform((v) => v ?? '');
const AccountForm = z.object({ kind: text, identifier: text, password: text });
const VerifyForm = z.object({ code: text, terms: formText, marketing: formText });
const CardForm = z.object({ name: text, number: text, expiry: text, cvv: text });
const ConfirmForm = z.object({ cardId: text, keep: formText.optional() });
const ChallengeForm = z.object({ result: formText });
const upload = z.string().optional();
const KycForm = z.object({
  country: text,
  idCountry: text,
  nationality: formText,
  documentType: text,
  firstName: text,
  lastName: text,
  dateOfBirth: text,
  files: z.object({ front: upload, back: upload, selfie: upload }).optional(),
});
const AddressForm = z.object({
  addressLine: text,
  city: text,
  postalCode: text,
  files: z.object({ proof: upload }).optional(),
});
const NoFields = z.object({});

export function registerBuyflowRoutes(
  app: FastifyInstance,
  deps: {
    buyflow: BuyflowService;
    sessions: Sessions;
    clock: Clock;
    publicUrl: string;
    mode: 'sandbox' | 'production';
    /**
     * A link to the network's block explorer for a transaction, or null where there is none (the sandbox's dev
     * chains).
     */
    explorerTxUrl: (network: string, hash: string) => string | null;
  },
) {
  const { buyflow, sessions, clock, mode } = deps;
  const secure = deps.publicUrl.startsWith('https://');
  const sameSite = secure ? 'none' : 'lax';
  const cookieOpts = { path: BASE, httpOnly: true, secure, sameSite } as const;
  const brand = buyflow.brand;
  const pages = createPageHelper({ mode, sessions });
  const csrf = csrfCookie({ cookie: CSRF, path: BASE, secure, field: 'csrf', sameSite });

  /**
   * iframe embedding: a gen-1 order's page only in the partner's registered redirect domains (spec §6.1 iframe); a
   * gen-2 order's never (binance-connect-v2.md §4.7.2: Binance forbids loading the link in an iframe).
   */
  function frameHeaders(reply: FastifyReply, partner: Partner | null, order?: ConnectOrder) {
    const domains = order?.generation === 2 ? [] : (partner?.redirectDomains ?? []);
    const origins = domains.flatMap((d) => (mode === 'sandbox' ? [`https://${d}`, `http://${d}`] : [`https://${d}`]));
    reply.removeHeader('x-frame-options');
    if (origins.length === 0) reply.header('x-frame-options', 'DENY');
    reply.header(
      'content-security-policy',
      `default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; ` +
        `frame-ancestors ${origins.length ? origins.join(' ') : "'none'"}`,
    );
    return origins;
  }

  const render = (reply: FastifyReply, token: string, title: string, body: SafeHtml, autoReturn = false) =>
    pages.send(reply, {
      title,
      body: html`<meta name="csrf" content="${token}">${body}`,
      noStore: true,
      scripts: autoReturn ? [`${BASE}/app.js`, RETURN_SCRIPT] : [`${BASE}/app.js`],
    });

  async function sessionUser(req: FastifyRequest): Promise<BuyflowUser | null> {
    const s = await pages.session(req, SESSION, 'buyflow');
    return s ? buyflow.getUser(s.subjectId) : null;
  }

  const tokenOf = (req: FastifyRequest) => String((req.query as Record<string, unknown> | undefined)?.token ?? '');

  serveScript(app, `${BASE}/app.js`, 'buyflow.js', 'no-cache');
  serveScript(app, RETURN_SCRIPT, 'connect-return.js', 'no-cache');

  // Generation 2's landing link (§4.7 `link`) and status link (§8 `orderDetailLink`) open the same hosted pages with
  // the same token; nothing else of their query string is carried over. Both are gen-2 links: never framed.
  for (const path of ['/uni-qr/ccnt', '/en/connect/order'])
    app.get(path, { schema: { hide: true } }, async (req, reply) => {
      frameHeaders(reply, null);
      return reply.header('cache-control', 'no-store').redirect(back(tokenOf(req)), 302);
    });

  app.get(BASE, { schema: { hide: true } }, async (req, reply) => {
    const token = tokenOf(req);
    const q = req.query as Record<string, string | undefined>;
    const found = await buyflow.orderByToken(token);
    const formToken = csrf.token(req, reply);
    const p: Page = { token, csrf: formToken, brand };
    if (!found) {
      frameHeaders(reply, null);
      return render(reply.code(404), formToken, 'Link not valid', linkNotValidView());
    }
    if (
      (found.order.mainStatus === 'INIT' && found.order.expiredTime <= clock.now()) ||
      (found.order.subStatus === 'FAILED' && found.order.errorCode === 'ORDER_EXPIRED')
    ) {
      frameHeaders(reply, found.partner, found.order);
      const r = returnLink(found.order, partnerDisplayName(found.order, found.partner.name), true);
      return render(reply, formToken, 'Order expired', expiredView(r), r?.auto);
    }
    const { order, partner } = found;
    const partnerName = partnerDisplayName(order, partner.name);
    const origins = frameHeaders(reply, partner, order);
    const user = await sessionUser(req);

    if (!user) {
      if (q.step === 'verify') {
        const pending = await pages.session(req, PENDING, 'buyflow_pending');
        const pu = pending ? await buyflow.getUser(pending.subjectId) : null;
        const consent = { terms: q.terms === '1', marketing: q.marketing === '1' };
        if (pu) return render(reply, formToken, 'Verification', verifyView(p, pu, q.error, q.sent, consent));
      }
      const login =
        q.step === 'login' ||
        (q.step !== 'signup' && (await buyflow.boundUser(order.partnerCode, order.merchantUserId)) !== null);
      const purchase = {
        partnerName,
        orderAmount: order.orderAmount,
        fiatCurrency: order.fiatCurrency,
        cryptoCurrency: order.cryptoCurrency,
        cryptoNetwork: order.cryptoNetwork,
      };
      return render(reply, formToken, login ? 'Log in' : 'Create account', accountView(p, login, purchase, q.error));
    }
    const attached = await buyflow.attach(order, user.id);
    if (!attached.ok) return render(reply, formToken, 'Not your order', notYourOrderView(attached.message));
    const step = (await buyflow.step(order.orderId)) ?? 'OPEN';
    if (step === 'CHALLENGE')
      return render(
        reply,
        formToken,
        '3-D Secure',
        challengeView(p, order, buyflow.lockedOf(found.bf), clock.now(), origins, q.error),
      );
    if (step !== 'OPEN' || order.mainStatus !== 'INIT') {
      const w = await buyflow.withdrawalOf(order.orderId);
      const txHash = order.withdrawTxHash ?? w?.txHash ?? null;
      const returnTo = returnLink(order, partnerName);
      return render(
        reply,
        formToken,
        'Order status',
        statusView(
          p,
          order,
          {
            returnTo,
            generation: order.generation,
            origins,
            step,
            locked: buyflow.lockedOf(found.bf),
            txHash,
            txUrl: txHash ? deps.explorerTxUrl(order.cryptoNetwork, txHash) : null,
          },
          q.error,
        ),
        returnTo?.auto,
      );
    }

    // Send primary: the user's own crypto first, before identity checks and cards (it is their money, §10.4).
    if (isSendPrimary(order))
      return render(
        reply,
        formToken,
        `Send ${order.cryptoCurrency}`,
        sendView(p, {
          order,
          balance: await buyflow.balanceOf(user.id, order.cryptoCurrency),
          partnerName: partnerDisplayName(order, partner.name),
          error: q.error,
        }),
      );
    const k = await buyflow.kycState(user, order);
    // The broker's record puts the person in a restricted region: the order has just failed; show it.
    if (k.state === 'RESTRICTED') return reply.redirect(back(token), 303);
    if (k.state === 'NEEDED' || k.state === 'REJECTED')
      return render(reply, formToken, 'Verify your identity', kycView(k.state === 'REJECTED' ? k.reason : null));
    if (k.state === 'REVIEW')
      return render(
        reply,
        formToken,
        'Under Review',
        kycReviewView(brand, order, k.state, k.expectTime ?? null, origins),
      );
    if (q.step === 'address') {
      const a = await buyflow.syncAddress(user.id);
      return render(
        reply,
        formToken,
        'Verify your address',
        addressView(token, a.state, a.state === 'REJECTED' ? a.reason : null),
      );
    }
    if (!buyflow.cardPaymentsAvailable)
      return render(reply, formToken, 'Add new card', cardUnavailableView(NO_ACQUIRER_MESSAGE));
    const cards = await buyflow.cards(user.id);
    if (q.step === 'addcard' || cards.length === 0)
      return render(reply, formToken, 'Add new card', cardView(p, q.error));
    let quote = buyflow.lockedOf(found.bf);
    if (!quote || quote.expiresAt < clock.now()) {
      const l = await buyflow.lockQuote(order.orderId, user.id);
      if (!l.ok) return render(reply, formToken, 'Confirm Payment', errorCardView(l.message));
      quote = l.value;
    }
    const chosen = cards.find((c) => c.id === q.card) ?? cards[0];
    if (!chosen) return render(reply, formToken, 'Add new card', cardView(p, q.error));
    return render(
      reply,
      formToken,
      'Confirm Payment',
      confirmView(p, {
        order,
        quote,
        cards,
        chosen,
        addedCardId: q.card,
        verified: user.kycLevel === 'VERIFIED',
        now: clock.now(),
        error: q.error,
      }),
    );
  });

  // ---- form posts (each checks CSRF, then parses its body, then redirects back to the entry) ----

  const withError = (token: string, step: string, message?: string) =>
    back(token, `${step ? `&step=${step}` : ''}&error=${encodeURIComponent(message ?? 'Something went wrong.')}`);
  /** A redirecting form: CSRF, then its body (one that does not fit returns to `step` with the message), then `fn`. */
  async function post<S extends z.ZodType>(
    req: FastifyRequest,
    reply: FastifyReply,
    schema: S,
    step: string,
    fn: (token: string, body: z.output<S>) => Promise<string>,
  ) {
    const token = tokenOf(req);
    if (!csrf.ok(req)) return reply.code(403).type('text/plain').send('Invalid form token. Reload the page.');
    const form = parseForm(schema, req);
    return reply.redirect(form.ok ? await fn(token, form.value) : withError(token, step, form.message), 303);
  }
  const limited = { config: { rateLimit: { max: 20, timeWindow: '1 minute' } }, schema: { hide: true } };

  app.post(`${BASE}/signup`, limited, (req, reply) =>
    post(req, reply, AccountForm, 'signup', async (token, b) => {
      const r = await buyflow.signup(b);
      if (!r.ok) return withError(token, r.code === 'ACCOUNT_EXISTS' ? 'login' : 'signup', r.message);
      const s = await sessions.create('buyflow_pending', r.value.userId);
      reply.setCookie(PENDING, s.cookie, cookieOpts);
      return back(token, '&step=verify&sent=1');
    }),
  );
  app.post(`${BASE}/login`, limited, (req, reply) =>
    post(req, reply, AccountForm, 'login', async (token, b) => {
      const r = await buyflow.login(b);
      if (!r.ok) return withError(token, 'login', r.message);
      const s = await sessions.create('buyflow_pending', r.value.userId);
      reply.setCookie(PENDING, s.cookie, cookieOpts);
      return back(token, '&step=verify&sent=1');
    }),
  );
  app.post(`${BASE}/resend`, limited, (req, reply) =>
    post(req, reply, NoFields, 'verify', async (token) => {
      const p = await pages.session(req, PENDING, 'buyflow_pending');
      if (!p) return back(token);
      const r = await buyflow.sendCode(p.subjectId);
      return r.ok ? back(token, '&step=verify&sent=1') : withError(token, 'verify', r.message);
    }),
  );
  app.post(`${BASE}/verify`, limited, (req, reply) =>
    post(req, reply, VerifyForm, 'verify', async (token, b) => {
      const p = await pages.session(req, PENDING, 'buyflow_pending');
      if (!p) return back(token);
      const r = await buyflow.verifyCode(p.subjectId, b.code.trim(), {
        terms: b.terms === '1',
        marketing: b.marketing === '1',
      });
      // The boxes the person ticked come back ticked: a wrong code is no reason to untick them.
      const ticked = `${b.terms === '1' ? '&terms=1' : ''}${b.marketing === '1' ? '&marketing=1' : ''}`;
      if (!r.ok) return withError(token, 'verify', r.message) + ticked;
      await sessions.destroy(req.cookies[PENDING]);
      reply.clearCookie(PENDING, { path: BASE });
      const s = await sessions.create('buyflow', r.value.id);
      reply.setCookie(SESSION, s.cookie, cookieOpts);
      // One account: a buy-flow login (password and code) also logs the person in at the checkout and the wallet,
      // which ask for the password only. Not the other way round: the buy flow's code would be skipped.
      const payerId = await buyflow.payerOf(r.value.id);
      if (payerId) {
        const ps = await sessions.create(PAYER_SESSION_SUBJECT, payerId);
        reply.setCookie(PAYER_SESSION_COOKIE, ps.cookie, payerCookieOptions(secure));
      }
      return back(token);
    }),
  );
  /**
   * The link's order and the session's user, if the form applies to them now (purchase.ts FORM_APPLIES): another
   * user's order, or an order past the point where the form means anything, is refused before anything runs.
   */
  async function formContext(
    req: FastifyRequest,
    form: OrderForm,
  ): Promise<Result<{ order: ConnectOrder; user: BuyflowUser }>> {
    const found = await buyflow.orderByToken(tokenOf(req));
    const user = await sessionUser(req);
    if (!found || !user) return err('LOGIN_REQUIRED', 'Please log in again.');
    const applies = await buyflow.formApplies(found.order, user.id, form);
    return applies.ok ? ok({ order: found.order, user }) : applies;
  }
  const refusedJson = (reply: FastifyReply, r: { code: string; message?: string }) =>
    reply
      .code(r.code === 'LOGIN_REQUIRED' ? 401 : r.code === 'ORDER_OF_ANOTHER_USER' ? 403 : 409)
      .send({ ok: false, code: r.code, message: r.message });
  const invalidJson = (reply: FastifyReply, message: string) =>
    reply.code(400).send({ ok: false, code: 'INVALID_FORM', message });

  app.post(`${BASE}/kyc`, { bodyLimit: 24 * 1024 * 1024, schema: { hide: true } }, async (req, reply) => {
    if (!csrf.ok(req)) return reply.code(403).send({ ok: false, message: 'Invalid form token. Reload the page.' });
    const c = await formContext(req, 'kyc');
    if (!c.ok) return refusedJson(reply, c);
    const form = parseForm(KycForm, req);
    if (!form.ok) return invalidJson(reply, form.message);
    const b = form.value;
    const files = (['front', 'back', 'selfie'] as const).flatMap((field) => {
      const data = b.files?.[field];
      return typeof data === 'string' ? [{ field, bytes: Buffer.from(data, 'base64') }] : [];
    });
    const r = await buyflow.submitKyc(c.value.user, c.value.order, {
      country: b.country,
      idCountry: b.idCountry,
      nationality: b.nationality,
      documentType: b.documentType,
      firstName: b.firstName,
      lastName: b.lastName,
      dateOfBirth: b.dateOfBirth,
      files,
    });
    return r.ok ? { ok: true } : reply.code(400).send({ ok: false, code: r.code, message: r.message });
  });
  app.post(`${BASE}/address`, { bodyLimit: 8 * 1024 * 1024, schema: { hide: true } }, async (req, reply) => {
    if (!csrf.ok(req)) return reply.code(403).send({ ok: false, message: 'Invalid form token. Reload the page.' });
    const c = await formContext(req, 'address');
    if (!c.ok) return refusedJson(reply, c);
    const form = parseForm(AddressForm, req);
    if (!form.ok) return invalidJson(reply, form.message);
    const b = form.value;
    const r = await buyflow.submitProofOfAddress(c.value.user.id, {
      addressLine: b.addressLine,
      city: b.city,
      postalCode: b.postalCode,
      file: typeof b.files?.proof === 'string' ? Buffer.from(b.files.proof, 'base64') : null,
    });
    return r.ok ? { ok: true } : reply.code(400).send({ ok: false, code: r.code, message: r.message });
  });
  app.post(`${BASE}/quote`, { schema: { hide: true } }, async (req, reply) => {
    if (!csrf.ok(req)) return reply.code(403).send({ message: 'Invalid form token.' });
    const c = await formContext(req, 'quote');
    if (!c.ok) return refusedJson(reply, c);
    const l = await buyflow.lockQuote(c.value.order.orderId, c.value.user.id);
    return l.ok
      ? { ...l.value, now: clock.now() }
      : reply.code(409).send({ ok: false, code: l.code, message: l.message });
  });

  /** A redirecting form on an order: refused with its message on the entry page, or run. */
  const orderForm =
    <S extends z.ZodType>(
      form: OrderForm,
      schema: S,
      step: string,
      fn: (c: { order: ConnectOrder; user: BuyflowUser }, token: string, b: z.output<S>) => Promise<string>,
    ) =>
    (req: FastifyRequest, reply: FastifyReply) =>
      post(req, reply, schema, step, async (token, b) => {
        const c = await formContext(req, form);
        if (!c.ok) return c.code === 'LOGIN_REQUIRED' ? back(token) : withError(token, '', c.message);
        return fn(c.value, token, b);
      });
  app.post(
    `${BASE}/card`,
    limited,
    orderForm('card', CardForm, 'addcard', async ({ user }, token, b) => {
      const r = await buyflow.addCard(user, b);
      return r.ok ? back(token, `&card=${r.value.id}`) : withError(token, 'addcard', r.message);
    }),
  );
  // Confirm, 3-D Secure and retry return to the entry page, which shows where the order now stands (the challenge,
  // the confirm page with why the card failed, or the progress).
  app.post(
    `${BASE}/confirm`,
    limited,
    orderForm('confirm', ConfirmForm, '', async ({ order, user }, token, b) => {
      const r = await buyflow.confirm(order.orderId, user.id, b.cardId, { keepInAccount: b.keep === '1' });
      return r.ok ? back(token) : withError(token, '', r.message);
    }),
  );
  app.post(
    `${BASE}/send`,
    limited,
    orderForm('send', NoFields, '', async ({ order, user }, token) => {
      const r = await buyflow.send(order.orderId, user.id);
      if (!r.ok) return withError(token, '', r.message);
      // Refused by the chain (the balance is short now): the order is a purchase from here, on the same page.
      return r.value.step === 'OPEN'
        ? withError(token, '', `Your ${order.cryptoCurrency} balance is short: buy it with a card instead.`)
        : back(token);
    }),
  );
  app.post(
    `${BASE}/3ds`,
    limited,
    orderForm('3ds', ChallengeForm, '', async ({ order, user }, token, b) => {
      const r = await buyflow.completeChallenge(order.orderId, user.id, b.result === 'pass');
      return r.ok ? back(token) : withError(token, '', r.message);
    }),
  );
  app.post(
    `${BASE}/retry`,
    limited,
    orderForm('retry', NoFields, '', async ({ order, user }, token) => {
      const r = await buyflow.retryWithdrawal(order.orderId, user.id);
      return r.ok ? back(token) : withError(token, '', r.message);
    }),
  );
  app.post(
    `${BASE}/close`,
    limited,
    orderForm('close', NoFields, '', async ({ order, user }, token) => {
      const r = await buyflow.close(order.orderId, user.id);
      return r.ok ? back(token) : withError(token, '', r.message);
    }),
  );
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
    return {
      key: liveKey(step, found.order, found.order.withdrawTxHash ?? w?.txHash ?? null),
      orderMainStatus: found.order.mainStatus,
      orderSubStatus: found.order.subStatus,
    };
  });
}
