import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import QRCode from 'qrcode';
import { z } from 'zod';
import { PAYER_SESSION_COOKIE, PAYER_SESSION_SUBJECT } from '../accounts/people.ts';
import type { AccountsService, Payer, Sessions } from '../accounts/service.ts';
import { networkInfo, NETWORKS } from '../chain/networks.ts';
import type { ChainService } from '../chain/service.ts';
import type { Db } from '../platform/db/client.ts';
import type { Ledger } from '../platform/ledger/service.ts';
import { Decimal } from '../platform/money.ts';
import { createPageHelper, formText, serveScript } from '../web/page.ts';
import { depositOptions, depositUri, type DepositOption } from './deposits.ts';
import {
  depositChoiceView,
  depositView,
  notFoundView,
  walletView,
  withdrawalState,
  withdrawalView,
  withdrawFormView,
  type BalanceLine,
  type DepositLine,
  type WithdrawOption,
} from './views.ts';
import type { WalletWithdrawals } from './withdrawals.ts';

/**
 * The wallet pages under /wallet for a logged-in payer (the checkout's session: cookie `rampart_payer` on `/`,
 * subject `payer`); without a session they send the person to /login?next=<the page>; log out is the accounts'
 * POST /logout. Every form carries the
 * session's CSRF token. /wallet/live.json feeds src/web/assets/wallet.js (balances, deposits with confirmations).
 */
const SESSION_COOKIE = PAYER_SESSION_COOKIE;
const BAD_TOKEN = 'Invalid form token; reload the page.';

const WithdrawForm = z.object({ option: formText, address: formText, memo: formText, amount: formText });
const CodeForm = z.object({ code: formText });

const amountText = (v: string) => new Decimal(v).toFixed();

export function registerWalletRoutes(
  app: FastifyInstance,
  deps: {
    db: Db;
    ledger: Ledger;
    chain: ChainService;
    accounts: AccountsService;
    sessions: Sessions;
    withdrawals: WalletWithdrawals;
    publicUrl: string;
    mode: 'sandbox' | 'production';
  },
) {
  const { chain, withdrawals } = deps;
  const pages = createPageHelper({ mode: deps.mode, sessions: deps.sessions });
  const hide = { hide: true };
  const params = (req: FastifyRequest) => req.params as Record<string, string>;

  serveScript(app, '/assets/wallet.js', 'wallet.js', 'public, max-age=300');

  /** The logged-in payer with the session's CSRF token, or null after sending the person to log in. */
  async function payerOf(req: FastifyRequest, reply: FastifyReply): Promise<{ payer: Payer; csrf: string } | null> {
    const s = await pages.session(req, SESSION_COOKIE, PAYER_SESSION_SUBJECT);
    const payer = s ? await deps.accounts.getPayer(s.subjectId) : null;
    if (s && payer) return { payer, csrf: s.csrf };
    const next = req.method === 'GET' ? req.url : '/wallet';
    await reply.redirect(`/login?next=${encodeURIComponent(next)}`, 303);
    return null;
  }

  async function balances(payerId: string): Promise<BalanceLine[]> {
    return (await deps.ledger.balances(deps.db, 'payer', payerId))
      .filter((b) => b.posted !== '0' || b.held !== '0')
      .map((b) => ({ asset: b.asset, available: amountText(b.available), held: amountText(b.held) }));
  }

  async function deposits(payerId: string): Promise<DepositLine[]> {
    return (await chain.deposits.list('payer', payerId))
      .map((d) => ({
        id: d.id,
        network: d.network,
        asset: d.asset,
        amount: d.amount,
        status: d.status,
        confirmations: d.confirmations,
        confirmationsRequired: d.confirmationsRequired,
        txHash: d.txHash,
        createdAt: d.createdAt,
      }))
      .reverse();
  }

  /**
   * The deposit option of a page's network and asset, with the chain started (its token contracts are known); null
   * for no such option, 'unavailable' when its chain cannot be reached now.
   */
  async function optionOf(
    network: string,
    asset: string,
  ): Promise<{ option: DepositOption; chainId: number } | 'unavailable' | null> {
    if (NETWORKS[network]?.family !== 'evm' || !chain.hasAdapter(network)) return null;
    const evm = await chain.evm(network).catch(() => null);
    if (!evm) return 'unavailable';
    const option = (await depositOptions(chain)).find((o) => o.network === network && o.asset === asset);
    return option ? { option, chainId: evm.chainId } : null;
  }

  async function withdrawOptions(payerId: string): Promise<WithdrawOption[]> {
    const bal = await balances(payerId);
    return (await chain.networkList())
      .filter((a) => a.withdrawEnabled)
      .map((a) => ({
        asset: a.asset,
        network: a.network,
        networkName: networkInfo(a.network).name,
        fee: a.withdrawFee,
        min: a.withdrawMin,
        memoRequired: a.memoRequired,
        available: bal.find((b) => b.asset === a.asset)?.available ?? '0',
      }))
      .sort((x, y) => Number(y.available !== '0') - Number(x.available !== '0'));
  }

  app.get('/wallet', { schema: hide }, async (req, reply) => {
    const me = await payerOf(req, reply);
    if (!me) return reply;
    const id = String(me.payer.payerId);
    return pages.send(reply, {
      title: 'Wallet',
      noStore: true,
      scripts: ['/assets/wallet.js'],
      body: walletView({
        email: me.payer.email,
        csrf: me.csrf,
        balances: await balances(id),
        deposits: await deposits(id),
        withdrawals: await withdrawals.list(id),
      }),
    });
  });

  app.get('/wallet/live.json', { schema: hide }, async (req, reply) => {
    const s = await pages.session(req, SESSION_COOKIE, PAYER_SESSION_SUBJECT);
    if (!s) return reply.code(401).header('cache-control', 'no-store').send({ error: 'not logged in' });
    const list = await withdrawals.list(s.subjectId);
    return reply.header('cache-control', 'no-store').send({
      balances: await balances(s.subjectId),
      deposits: await deposits(s.subjectId),
      withdrawals: list.map((w) => ({
        id: w.id,
        step: w.step,
        state: withdrawalState(w),
        txHash: w.chain?.txHash ?? null,
      })),
    });
  });

  app.get('/wallet/deposit', { schema: hide }, async (req, reply) => {
    const me = await payerOf(req, reply);
    if (!me) return reply;
    return pages.send(reply, { title: 'Deposit', noStore: true, body: depositChoiceView(await depositOptions(chain)) });
  });

  app.get('/wallet/deposit/:network/:asset', { schema: hide }, async (req, reply) => {
    const me = await payerOf(req, reply);
    if (!me) return reply;
    const { network, asset } = params(req);
    const found = await optionOf(network ?? '', asset ?? '');
    if (found === 'unavailable')
      return pages.send(reply, {
        title: 'Deposit',
        status: 503,
        body: notFoundView(`The ${network} network cannot be reached right now. Try again in a few minutes.`),
      });
    if (!found)
      return pages.send(reply, {
        title: 'Not found',
        status: 404,
        body: notFoundView(`${asset} cannot be deposited on ${network}.`),
      });
    const id = String(me.payer.payerId);
    const { address } = await chain.depositAddress('payer', id);
    const all = await deposits(id);
    return pages.send(reply, {
      title: `Deposit ${asset}`,
      noStore: true,
      scripts: ['/assets/wallet.js'],
      body: depositView({
        option: found.option,
        address,
        uri: depositUri(found.option, found.chainId, address),
        balance: (await balances(id)).find((b) => b.asset === asset) ?? null,
        deposits: all.filter((d) => d.network === network && d.asset === asset),
      }),
    });
  });

  // The same code and options as the checkout's QR (src/pay/checkout/routes.ts), of the EIP-681 URI or the address.
  app.get('/wallet/deposit/:network/:asset/qr.png', { schema: hide }, async (req, reply) => {
    const s = await pages.session(req, SESSION_COOKIE, PAYER_SESSION_SUBJECT);
    if (!s) return reply.code(401).send();
    const { network, asset } = params(req);
    const found = await optionOf(network ?? '', asset ?? '');
    if (found === 'unavailable') return reply.code(503).send();
    if (!found) return reply.code(404).send();
    const { address } = await chain.depositAddress('payer', s.subjectId);
    const png = await QRCode.toBuffer(depositUri(found.option, found.chainId, address), {
      type: 'png',
      width: 300,
      margin: 2,
      errorCorrectionLevel: 'M',
    });
    return reply.type('image/png').header('cache-control', 'private, max-age=3600').send(png);
  });

  async function withdrawForm(
    reply: FastifyReply,
    me: { payer: Payer; csrf: string },
    values: { option?: string; address?: string; memo?: string; amount?: string } = {},
    error?: string,
  ) {
    return pages.send(reply, {
      title: 'Withdraw',
      noStore: true,
      body: withdrawFormView({
        csrf: me.csrf,
        options: await withdrawOptions(String(me.payer.payerId)),
        values,
        error,
      }),
    });
  }

  app.get('/wallet/withdraw', { schema: hide }, async (req, reply) => {
    const me = await payerOf(req, reply);
    if (!me) return reply;
    return withdrawForm(reply, me);
  });

  app.post(
    '/wallet/withdraw',
    { schema: hide, config: { rateLimit: { max: 20, timeWindow: '1 minute' } } },
    async (req, reply) => {
      const me = await payerOf(req, reply);
      if (!me) return reply;
      if (!pages.csrfMatches(me.csrf, req, 'csrf')) return reply.code(403).send(BAD_TOKEN);
      const form = pages.parseForm(WithdrawForm, req);
      if (!form.ok) return withdrawForm(reply.code(400), me, {}, form.message);
      const v = form.value;
      const [asset, network] = (v.option ?? '').split(':');
      const res = await withdrawals.start({
        payerId: String(me.payer.payerId),
        email: me.payer.email,
        asset: asset ?? '',
        network: network ?? '',
        address: v.address ?? '',
        memo: v.memo ?? '',
        amount: v.amount ?? '',
      });
      if (!res.ok) return withdrawForm(reply.code(400), me, v, res.message);
      return reply.redirect(`/wallet/withdrawals/${res.value.id}`, 303);
    },
  );

  async function showWithdrawal(
    req: FastifyRequest,
    reply: FastifyReply,
    me: { payer: Payer; csrf: string },
    error?: string,
  ) {
    const w = await withdrawals.get(String(me.payer.payerId), params(req).id ?? '');
    if (!w) return pages.send(reply.code(404), { title: 'Not found', body: notFoundView('No such withdrawal.') });
    return pages.send(reply, {
      title: 'Withdrawal',
      noStore: true,
      scripts: ['/assets/wallet.js'],
      body: withdrawalView({ w, csrf: me.csrf, error, email: me.payer.email }),
    });
  }

  app.get('/wallet/withdrawals/:id', { schema: hide }, async (req, reply) => {
    const me = await payerOf(req, reply);
    if (!me) return reply;
    return showWithdrawal(req, reply, me);
  });

  app.post(
    '/wallet/withdrawals/:id/confirm',
    { schema: hide, config: { rateLimit: { max: 20, timeWindow: '1 minute' } } },
    async (req, reply) => {
      const me = await payerOf(req, reply);
      if (!me) return reply;
      if (!pages.csrfMatches(me.csrf, req, 'csrf')) return reply.code(403).send(BAD_TOKEN);
      const form = pages.parseForm(CodeForm, req);
      if (!form.ok) return showWithdrawal(req, reply.code(400), me, form.message);
      const res = await withdrawals.confirm(String(me.payer.payerId), params(req).id ?? '', form.value.code ?? '');
      if (!res.ok) return showWithdrawal(req, reply.code(res.code === 'NOT_FOUND' ? 404 : 409), me, res.message);
      return reply.redirect(`/wallet/withdrawals/${res.value.id}`, 303);
    },
  );

  app.post('/wallet/withdrawals/:id/cancel', { schema: hide }, async (req, reply) => {
    const me = await payerOf(req, reply);
    if (!me) return reply;
    if (!pages.csrfMatches(me.csrf, req, 'csrf')) return reply.code(403).send(BAD_TOKEN);
    const res = await withdrawals.cancel(String(me.payer.payerId), params(req).id ?? '');
    if (!res.ok) return showWithdrawal(req, reply.code(res.code === 'NOT_FOUND' ? 404 : 409), me, res.message);
    return reply.redirect(`/wallet/withdrawals/${res.value.id}`, 303);
  });
}
