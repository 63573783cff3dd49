import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import QRCode from 'qrcode';
import { z } from 'zod';
import { PAYER_SESSION_COOKIE, PAYER_SESSION_SUBJECT } from '../../accounts/people.ts';
import type { Sessions } from '../../accounts/service.ts';
import { adminError, adminGuard } from '../../platform/admin-auth.ts';
import { err, ok } from '../../platform/errors.ts';
import { createPageHelper, csrfCookie, formText, parseForm } from '../../web/page.ts';
import { payDomainFailure } from '../codes.ts';
import type { PayExtension, PayExtensionDeps, SubMerchantDirectory } from '../extension.ts';
import { featureEnabled } from '../features.ts';
import { firstFailure } from '../validation.ts';
import type { OrderHooks, OrderService } from '../orders/service.ts';
import type { SubMerchantOrderDirectory } from '../submerchants/service.ts';
import { ContractCreate, ContractQuery, ContractTermination, OrderContract, PayApply, PayNotify } from './schemas.ts';
import { contractData, createDirectDebitService, TERMINATION_WAY, type DirectDebitService } from './service.ts';
import { contractNotFoundView, payerContractsView, signingView } from './views.ts';

/**
 * Direct debit / pre-authorization (binance-pay-extended.md §14): the five signed endpoints (TSP scope CHECKOUT,
 * feature `directDebit`), the payer's signing page under the hosted checkout and their list of agreements under the
 * wallet, the sandbox hooks of §18.5, the worker (debits, expiry), and the order hooks of §14.9 (sign while paying).
 */
export interface DirectDebitOrderHooks extends OrderHooks {
  /** The hooks work through the area's service, built after the order service (which calls them). */
  attach(service: DirectDebitService): void;
}

export function createDirectDebitOrderHooks(deps: PayExtensionDeps): DirectDebitOrderHooks {
  let service: DirectDebitService | null = null;
  const dd = () => {
    if (!service) throw new Error('direct debit: order hooks used before the module was built');
    return service;
  };
  const terms = (extra: Record<string, unknown> | undefined) => extra?.directDebitContract;
  return {
    attach(s) {
      service = s;
    },
    applies: (input) => terms(input.extra) != null,
    async beforeCreate(merchantId, input) {
      const features = await deps.accounts.merchantFeatures(merchantId);
      if (!features || !featureEnabled({ features }, 'directDebit', deps.config.mode))
        return err('FEATURE_DISABLED', 'directDebitContract: direct debit is not enabled for this account.');
      const parsed = OrderContract.safeParse(terms(input.extra));
      if (!parsed.success) {
        const f = firstFailure(parsed.error);
        const code = f.code === '400100' ? 'FIELD_MISSING' : f.code === '400102' ? 'FIELD_VALUE' : 'FIELD_FORMAT';
        return err(code, `directDebitContract.${f.message}`);
      }
      const currency = input.currency ?? 'USDT';
      if (!['USDT', 'USDC'].includes(currency))
        return err('FIELD_VALUE', 'directDebitContract: the order currency must be USDT or USDC');
      const checked = dd().checkTerms(parsed.data, currency);
      if (!checked.ok) return err(checked.code, `directDebitContract.${checked.message}`);
      if (await dd().codeTaken(merchantId, parsed.data.merchantContractCode))
        return err('FIELD_VALUE', 'directDebitContract.merchantContractCode: is already used');
      return ok(undefined);
    },
    async afterCreate(order, input) {
      await dd().recordForOrder(order, OrderContract.parse(terms(input.extra)));
    },
    onPaid: (q, order) => dd().orderPaid(q, order),
    onClosed: (q, order) => dd().orderClosed(q, order),
    payableBy: (q, order, payerId) => dd().payableBy(q, order.prepayId, payerId),
  };
}

export function createDirectDebitModule(
  deps: PayExtensionDeps & {
    orders: OrderService;
    sessions: Sessions;
    hooks: DirectDebitOrderHooks;
    subMerchants: SubMerchantDirectory & Pick<SubMerchantOrderDirectory, 'face'>;
  },
): PayExtension & { directDebit: DirectDebitService } {
  const directDebit = createDirectDebitService({
    ...deps,
    publicUrl: deps.config.publicUrl,
    mode: deps.config.mode,
    maxOrderExpireMs: deps.config.pay.maxExpireMs,
    limitUsd: deps.config.pay.directDebitScenarioLimitUsd,
  });
  deps.hooks.attach(directDebit);
  const options = { scope: 'CHECKOUT', feature: 'directDebit' } as const;
  return {
    directDebit,
    payRoutes(route) {
      route(
        { path: '/direct-debit/contract', summary: 'Create a direct debit contract', schema: ContractCreate, options },
        async (input, { actor }) => {
          const r = await directDebit.create(actor, input);
          return r.ok ? { data: r.value } : payDomainFailure(r);
        },
      );
      route(
        {
          path: '/direct-debit/contract/query',
          summary: 'Query a direct debit contract',
          schema: ContractQuery,
          options,
        },
        async (input, { actor }) => {
          const r = await directDebit.query(actor.merchantId, input);
          return r.ok ? { data: contractData(r.value) } : payDomainFailure(r);
        },
      );
      route(
        {
          path: '/direct-debit/contract/termination',
          summary: 'Terminate a direct debit contract',
          schema: ContractTermination,
          options,
        },
        async (input, { actor }) => {
          const r = await directDebit.terminate(
            actor.merchantId,
            input,
            TERMINATION_WAY.MERCHANT,
            input.terminationNotes ?? null,
          );
          return r.ok ? { data: true } : payDomainFailure(r);
        },
      );
      route(
        { path: '/pay/notify', summary: 'Pre-debit notice (direct debit)', schema: PayNotify, options },
        async (input, { actor }) => {
          const r = await directDebit.notify(actor, input);
          return r.ok ? { data: r.value } : payDomainFailure(r);
        },
      );
      route(
        { path: '/pay/apply', summary: 'Apply a direct debit', schema: PayApply, options },
        async (input, { actor }) => {
          const r = await directDebit.apply(actor, input);
          return r.ok ? { data: r.value } : payDomainFailure(r);
        },
      );
    },
    routes(app) {
      registerContractPages(app, { ...deps, directDebit });
      registerContractAdmin(app, { ...deps, directDebit });
      registerContractSandbox(app, { ...deps, directDebit });
    },
    workers: [{ name: 'pay-direct-debit', tick: () => directDebit.runOnce() }],
  };
}

// ---- pages ----

const CHECKOUT_CSRF_COOKIE = 'rampart_csrf';
const BAD_TOKEN = 'Invalid form token; reload the page.';
const LoginForm = z.object({ email: formText, password: formText });

function registerContractPages(
  app: FastifyInstance,
  deps: PayExtensionDeps & { sessions: Sessions; directDebit: DirectDebitService },
) {
  const { directDebit, accounts, sessions } = deps;
  const secure = deps.config.publicUrl.startsWith('https://');
  const pages = createPageHelper({ mode: deps.config.mode, sessions });
  // The checkout's double-submit cookie (same name and path): the signing page is part of the checkout family.
  const csrf = csrfCookie({
    cookie: CHECKOUT_CSRF_COOKIE,
    path: '/checkout',
    secure,
    field: 'csrf',
    sameSite: 'strict',
  });
  const hide = { hide: true };
  const tokenOf = (req: FastifyRequest) => String((req.params as Record<string, unknown>).token ?? '');

  async function payerOf(req: FastifyRequest) {
    const s = await pages.session(req, PAYER_SESSION_COOKIE, PAYER_SESSION_SUBJECT);
    const payer = s ? await accounts.getPayer(s.subjectId) : null;
    return s && payer ? { payer, csrf: s.csrf } : null;
  }

  async function render(
    req: FastifyRequest,
    reply: FastifyReply,
    found: NonNullable<Awaited<ReturnType<DirectDebitService['byToken']>>>,
    extra: { error?: string; rejected?: boolean } = {},
  ) {
    const c = found.contract;
    const me = await payerOf(req);
    const expired =
      c.status === 'CONTRACT_EXPIRED' || (c.status === 'INITIAL' && c.requestExpireTime <= deps.clock.now());
    return pages.send(reply, {
      title: 'Direct debit agreement',
      noStore: true,
      body: signingView({
        contract: c,
        merchantName: found.merchantName,
        brandLogo: found.brandLogo,
        expired,
        csrf: csrf.token(req, reply),
        payer: me ? { email: me.payer.email } : null,
        ...extra,
      }),
    });
  }
  const notFound = (reply: FastifyReply) =>
    pages.send(reply, { title: 'Not found', status: 404, body: contractNotFoundView() });

  app.get('/checkout/contract/:token', { schema: hide }, async (req, reply) => {
    const found = await directDebit.byToken(tokenOf(req));
    return found ? render(req, reply, found) : notFound(reply);
  });

  app.get('/checkout/contract/:token/qr.png', { schema: hide }, async (req, reply) => {
    const found = await directDebit.byToken(tokenOf(req));
    if (!found) return reply.code(404).send();
    const png = await QRCode.toBuffer(directDebit.signingUrl(found.contract.token), {
      type: 'png',
      width: 300,
      margin: 2,
      errorCorrectionLevel: 'M',
    });
    return reply.type('image/png').header('cache-control', 'public, max-age=3600').send(png);
  });

  app.post(
    '/checkout/contract/:token/login',
    { schema: hide, config: { rateLimit: { max: 10, timeWindow: '1 minute' } } },
    async (req, reply) => {
      const found = await directDebit.byToken(tokenOf(req));
      if (!found) return notFound(reply);
      if (!csrf.ok(req)) return reply.code(403).send(BAD_TOKEN);
      const form = parseForm(LoginForm, req);
      if (!form.ok) return render(req, reply.code(400), found, { error: form.message });
      const res = await accounts.authenticatePayer(form.value.email ?? '', form.value.password ?? '');
      if (!res.ok) return render(req, reply.code(401), found, { error: 'Wrong email or password.' });
      const s = await sessions.create(PAYER_SESSION_SUBJECT, String(res.value.payerId));
      reply.setCookie(PAYER_SESSION_COOKIE, s.cookie, {
        path: '/',
        httpOnly: true,
        sameSite: 'lax',
        secure,
        maxAge: 12 * 3600,
      });
      return reply.redirect(`/checkout/contract/${found.contract.token}`, 303);
    },
  );

  app.post('/checkout/contract/:token/agree', { schema: hide }, async (req, reply) => {
    const found = await directDebit.byToken(tokenOf(req));
    if (!found) return notFound(reply);
    if (!csrf.ok(req)) return reply.code(403).send(BAD_TOKEN);
    const me = await payerOf(req);
    if (!me) return render(req, reply.code(401), found, { error: 'Please log in first.' });
    const r = await directDebit.sign(found.contract.preContractId, String(me.payer.payerId));
    if (!r.ok)
      return render(req, reply.code(409), found, { error: r.message ?? 'This request can no longer be signed.' });
    return reply.redirect(r.value.returnUrl ?? `/checkout/contract/${found.contract.token}`, 303);
  });

  app.post('/checkout/contract/:token/reject', { schema: hide }, async (req, reply) => {
    const found = await directDebit.byToken(tokenOf(req));
    if (!found) return notFound(reply);
    if (!csrf.ok(req)) return reply.code(403).send(BAD_TOKEN);
    // §14.1 Decision: a rejection changes nothing; the request stays INITIAL until it expires.
    if (found.contract.cancelUrl) return reply.redirect(found.contract.cancelUrl, 303);
    return render(req, reply, found, { rejected: true });
  });

  // The payer's agreements (their account area, beside the wallet): active ones with Cancel (way 0).
  async function walletPayer(req: FastifyRequest, reply: FastifyReply) {
    const me = await payerOf(req);
    if (me) return me;
    await reply.redirect(`/login?next=${encodeURIComponent('/wallet/contracts')}`, 303);
    return null;
  }

  app.get('/wallet/contracts', { schema: hide }, async (req, reply) => {
    const me = await walletPayer(req, reply);
    if (!me) return reply;
    const flash = (req.query as Record<string, string>).done === '1' ? 'The agreement was cancelled.' : undefined;
    return pages.send(reply, {
      title: 'Direct debits',
      noStore: true,
      body: payerContractsView({
        email: me.payer.email,
        csrf: me.csrf,
        contracts: await directDebit.listForPayer(String(me.payer.payerId)),
        flash,
      }),
    });
  });

  app.post('/wallet/contracts/:contractId/cancel', { schema: hide }, async (req, reply) => {
    const me = await walletPayer(req, reply);
    if (!me) return reply;
    if (!pages.csrfMatches(me.csrf, req, 'csrf')) return reply.code(403).send(BAD_TOKEN);
    const contractId = String((req.params as Record<string, unknown>).contractId ?? '');
    if (!/^\d{1,16}$/.test(contractId)) return reply.code(404).send();
    const r = await directDebit.terminateByPayer(String(me.payer.payerId), contractId);
    if (!r.ok) return reply.code(r.code === 'CONTRACT_NOT_FOUND' ? 404 : 409).send(r.message ?? r.code);
    return reply.redirect('/wallet/contracts?done=1', 303);
  });
}

// ---- operator (§14.1: termination way 2, by operations) ----

const Terminate = z.object({ notes: z.string().max(256).optional() });

function registerContractAdmin(app: FastifyInstance, deps: PayExtensionDeps & { directDebit: DirectDebitService }) {
  app.register(async (r) => {
    r.addHook('onRequest', adminGuard(deps.adminToken));
    r.post(
      '/admin/v1/contracts/:contractId/terminate',
      {
        schema: {
          tags: ['Admin'],
          security: [{ adminToken: [] }],
          summary: 'Terminate a signed direct debit contract (way 2, by operations)',
          params: Digits('contractId'),
          body: Terminate.optional(),
        },
      },
      async (req, reply) => {
        const { contractId } = req.params as { contractId: string };
        const row = await deps.db.query(`SELECT merchant_id FROM pay_dd_contracts WHERE contract_id = $1`, [
          contractId,
        ]);
        if (!row.rows[0]) return adminError(reply, 404, 'CONTRACT_NOT_FOUND');
        const notes = (req.body as z.infer<typeof Terminate> | undefined)?.notes ?? null;
        const res = await deps.directDebit.terminate(
          String(row.rows[0].merchant_id),
          { contractId },
          TERMINATION_WAY.OPERATOR,
          notes,
        );
        if (!res.ok) return adminError(reply, 409, res.code, res.message);
        return { contractId: Number(contractId), bizStatus: 'CONTRACT_TERMINATED' };
      },
    );
  });
}

// ---- sandbox (§18.5) ----

const Decision = z.object({ payerEmail: z.string().email(), decision: z.enum(['AGREE', 'REJECT']) });
const Digits = (name: string) => z.object({ [name]: z.string().regex(/^\d{1,19}$/) });

function registerContractSandbox(app: FastifyInstance, deps: PayExtensionDeps & { directDebit: DirectDebitService }) {
  if (deps.config.mode !== 'sandbox') return;
  const { directDebit } = deps;
  const tags = ['Sandbox'];
  const security = [{ adminToken: [] }];
  app.register(async (r) => {
    r.addHook('onRequest', adminGuard(deps.adminToken));
    r.post(
      '/sandbox/v1/contracts/:preContractId/decision',
      {
        schema: {
          tags,
          security,
          summary: "A payer's answer to a direct debit request (the signing page's Agree / Reject)",
          params: Digits('preContractId'),
          body: Decision,
        },
      },
      async (req, reply) => {
        const { preContractId } = req.params as { preContractId: string };
        const body = req.body as z.infer<typeof Decision>;
        const payer = await deps.accounts.findPayerByEmail(body.payerEmail);
        if (!payer) return adminError(reply, 404, 'PAYER_NOT_FOUND');
        const c = await directDebit.byPreContractId(preContractId);
        if (!c) return adminError(reply, 404, 'CONTRACT_NOT_FOUND');
        if (body.decision === 'REJECT') return { preContractId, bizStatus: c.status };
        const res = await directDebit.sign(preContractId, String(payer.payerId));
        if (!res.ok) return adminError(reply, 409, res.code, res.message);
        return { preContractId, bizStatus: res.value.status, contractId: Number(res.value.contractId) };
      },
    );
    r.post(
      '/sandbox/v1/contracts/:contractId/terminate-by-payer',
      {
        schema: {
          tags,
          security,
          summary: "The signer cancels a direct debit contract (their account page's Cancel, way 0)",
          params: Digits('contractId'),
        },
      },
      async (req, reply) => {
        const { contractId } = req.params as { contractId: string };
        const row = await deps.db.query(`SELECT payer_id FROM pay_dd_contracts WHERE contract_id = $1`, [contractId]);
        if (!row.rows[0]?.payer_id) return adminError(reply, 404, 'CONTRACT_NOT_FOUND');
        const res = await directDebit.terminateByPayer(String(row.rows[0].payer_id), contractId);
        if (!res.ok) return adminError(reply, 409, res.code, res.message);
        return { contractId: Number(contractId), bizStatus: 'CONTRACT_TERMINATED' };
      },
    );
  });
}
