import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import QRCode from 'qrcode';
import { z } from 'zod';
import type { AccountsService, Sessions } from '../../accounts/service.ts';
import { adminError, adminGuard } from '../../platform/admin-auth.ts';
import { formText, parseForm } from '../../web/page.ts';
import { BAD_TOKEN, createPayerPages } from './payer-pages.ts';
import type { ShareDecision, ShareInfoService, ShareRequest } from './service.ts';
import { shareConsentView, shareNotFoundView } from './views.ts';

const DecisionForm = z.object({ csrf: formText, decision: formText });
const DECISIONS: Record<string, ShareDecision> = { AGREE: 'AGREE', DECLINE: 'DECLINE' };

/**
 * The share account id consent page (binance-pay-extended.md §17.2) at /checkout/share-account/{token}, its QR image,
 * login and decision; and the sandbox hook deciding for a payer by e-mail (§18.5).
 */
export function registerShareInfoRoutes(
  app: FastifyInstance,
  deps: {
    shareInfo: ShareInfoService;
    accounts: AccountsService;
    sessions: Sessions;
    adminToken: string;
    mode: 'sandbox' | 'production';
    publicUrl: string;
  },
) {
  const { shareInfo, accounts } = deps;
  const hide = { hide: true };
  const payerPages = createPayerPages({
    ...deps,
    csrf: { cookie: 'rampart_share_csrf', path: '/checkout/share-account' },
  });
  const { pages, csrf } = payerPages;
  const tokenOf = (req: FastifyRequest) => String((req.params as Record<string, unknown>).token ?? '');
  const pagePath = (s: ShareRequest) => `/checkout/share-account/${s.token}`;

  async function render(req: FastifyRequest, reply: FastifyReply, s: ShareRequest, error?: string) {
    const merchant = await accounts.getMerchant(s.merchantId);
    const payer = await payerOf(req);
    const payerId = payer ? String(payer.payerId) : null;
    const body = shareConsentView({
      token: s.token,
      merchantName: merchant?.name ?? 'A merchant',
      status: s.status,
      decidedByOther: (s.status === 'AGREED' || s.status === 'DECLINED') && s.payerId !== payerId,
      payer: payer && payerId ? { email: payer.email, payerId } : null,
      csrf: csrf.token(req, reply),
      expireTime: s.expireTime,
      error,
    });
    return pages.send(reply, { title: 'Share your account ID', body, noStore: true });
  }
  const payerOf = payerPages.payerOf;
  const notFound = (reply: FastifyReply) =>
    pages.send(reply, { title: 'Not found', status: 404, body: shareNotFoundView() });

  app.get('/checkout/share-account/:token', { schema: hide }, async (req, reply) => {
    const s = await shareInfo.byToken(tokenOf(req));
    return s ? render(req, reply, s) : notFound(reply);
  });

  app.get('/checkout/share-account/:token/qr.png', { schema: hide }, async (req, reply) => {
    const s = await shareInfo.byToken(tokenOf(req));
    if (!s) return reply.code(404).send();
    const png = await QRCode.toBuffer(shareInfo.pageUrl(s.token), { type: 'png', width: 300, margin: 2 });
    return reply.type('image/png').header('cache-control', 'public, max-age=900').send(png);
  });

  app.post(
    '/checkout/share-account/:token/login',
    { schema: hide, config: { rateLimit: { max: 10, timeWindow: '1 minute' } } },
    async (req, reply) => {
      const s = await shareInfo.byToken(tokenOf(req));
      if (!s) return notFound(reply);
      if (!csrf.ok(req)) return reply.code(403).send(BAD_TOKEN);
      const r = await payerPages.login(req, reply);
      if (!r.ok) return render(req, reply.code(401), s, r.message);
      return reply.redirect(pagePath(s), 303);
    },
  );

  app.post('/checkout/share-account/:token/decision', { schema: hide }, async (req, reply) => {
    const s = await shareInfo.byToken(tokenOf(req));
    if (!s) return notFound(reply);
    if (!csrf.ok(req)) return reply.code(403).send(BAD_TOKEN);
    const payer = await payerOf(req);
    if (!payer) return render(req, reply.code(401), s, 'Please log in first.');
    const form = parseForm(DecisionForm, req);
    const decision = form.ok ? DECISIONS[form.value.decision ?? ''] : undefined;
    if (!decision) return render(req, reply.code(400), s, 'Choose Agree or Decline.');
    const r = await shareInfo.decide(s.id, String(payer.payerId), decision);
    if (!r.ok) return render(req, reply.code(409), (await shareInfo.byToken(s.token)) ?? s, r.message);
    return reply.redirect(pagePath(s), 303);
  });

  if (deps.mode !== 'sandbox') return;
  const guard = adminGuard(deps.adminToken);
  app.register(async (r) => {
    r.addHook('onRequest', guard);
    r.post(
      '/sandbox/v1/shareinfo/:id/decision',
      {
        schema: {
          tags: ['Sandbox'],
          security: [{ adminToken: [] }],
          summary: "A user's answer to a share account id request (the consent page's Agree / Decline)",
          params: z.object({ id: z.string().regex(/^\d{1,19}$/) }),
          body: z.object({ payerEmail: z.string().email(), decision: z.enum(['AGREE', 'DECLINE']) }),
        },
      },
      async (req, reply) => {
        const { id } = req.params as { id: string };
        const body = req.body as { payerEmail: string; decision: ShareDecision };
        const payer = await accounts.findPayerByEmail(body.payerEmail);
        if (!payer) return adminError(reply, 404, 'PAYER_NOT_FOUND');
        const res = await shareInfo.decide(id, String(payer.payerId), body.decision);
        if (!res.ok) return adminError(reply, res.code === 'SHARE_NOT_FOUND' ? 404 : 409, res.code, res.message);
        return { id: res.value.id, requestId: res.value.requestId, status: res.value.status };
      },
    );
  });
}
