import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import {
  createPublicClient,
  createWalletClient,
  erc20Abi,
  formatUnits,
  http,
  parseEther,
  parseUnits,
  type Address,
  type Hex,
} from 'viem';
import { generatePrivateKey, mnemonicToAccount, privateKeyToAccount } from 'viem/accounts';
import { ANVIL_DEV_MNEMONIC, startAnvil, type AnvilHandle } from '../src/chain/anvil.ts';
import TestToken from '../src/chain/contracts/TestToken.json' with { type: 'json' };
import { evmChain } from '../src/chain/evm.ts';
import { isForbiddenAddress } from '../src/platform/outbox/delivery.ts';
import { freePort, payClient, PG_URL, v3Order } from './helpers.ts';
import { formBrowser } from './support/form-browser.ts';
import { createPayWebhookVerifier } from './support/pay-webhook-verifier.ts';
import { productionEnv } from './support/production-env.ts';
import { waitFor } from './support/webhook-receiver.ts';

/**
 * Production without sandbox helpers (issue #16): a platform process in RAMPART_MODE=production against an EVM node
 * given in CHAIN_RPC_URL (an anvil this test runs, not the embedded one) with the token contract in CHAIN_TOKENS. A
 * merchant and an order through the APIs; the order paid from an outside account by a token transfer to the address
 * the checkout shows; a verified PAY_SUCCESS webhook; the deposit swept into the hot wallet after the operator tops it
 * up with gas; the merchant's balance settled to its own address. Every balance is read from the chain, and the ledger
 * audit (hot wallets reconciled) is clean at the end.
 */

/** An address of this machine a production server may call (production refuses loopback and private targets). */
function publicInterfaceAddress(): string | null {
  for (const list of Object.values(networkInterfaces()))
    for (const i of list ?? []) if (i.family === 'IPv4' && !isForbiddenAddress(i.address)) return i.address;
  return null;
}

const WEBHOOK_HOST = publicInterfaceAddress();
const CHAIN_ID = 11155111; // a testnet id: the platform takes it from the node, not from its registry
const ORDER_AMOUNT = '25';

describe(
  'production against an external EVM node, without sandbox helpers',
  { skip: WEBHOOK_HOST ? false : 'no network interface with an address a production server may call' },
  () => {
    let anvil: AnvilHandle;
    let server: ChildProcess;
    let base: string;
    let dbName: string | null = null;
    const dataDir = mkdtempSync(join(tmpdir(), 'rampart-prod-chain-'));
    const received: { headers: IncomingHttpHeaders; body: Buffer }[] = [];
    const hooks = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks) });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"returnCode":"SUCCESS","returnMessage":null}');
      });
    });
    let adminToken: string;
    let token: Address;
    const operator = mnemonicToAccount(ANVIL_DEV_MNEMONIC); // deploys the token, later tops the hot wallet up
    const payer = mnemonicToAccount(ANVIL_DEV_MNEMONIC, { addressIndex: 1 });
    const merchantWallet = privateKeyToAccount(generatePrivateKey()).address;
    let stderr = '';

    const chain = () => evmChain(CHAIN_ID, 'ETH', 'ETH', anvil.rpcUrl);
    const client = () => createPublicClient({ chain: chain(), transport: http(anvil.rpcUrl), pollingInterval: 50 });
    const wallet = (account: typeof operator) =>
      createWalletClient({ account, chain: chain(), transport: http(anvil.rpcUrl) });
    const usdtOf = async (holder: string) =>
      formatUnits(
        await client().readContract({
          address: token,
          abi: erc20Abi,
          functionName: 'balanceOf',
          args: [holder as Address],
        }),
        6,
      );
    const mine = (blocks: number) =>
      client().request({ method: 'anvil_mine' as any, params: [`0x${blocks.toString(16)}`] as any });
    const admin = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(base + path, {
        method,
        headers: {
          authorization: `Bearer ${adminToken}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
      return { status: res.status, json: (await res.json()) as any };
    };
    /** Mines a few blocks at a time while the platform's worker catches up, until `check` answers. */
    const mineUntil = <T>(what: string, check: () => Promise<T | false | null | undefined>, timeoutMs = 90_000) =>
      waitFor(
        what,
        async () => {
          const v = await check();
          if (v) return v;
          await mine(3);
          return false;
        },
        timeoutMs,
        250,
      );

    before(async () => {
      anvil = await startAnvil({ chainId: CHAIN_ID });
      const deployed = await client().waitForTransactionReceipt({
        hash: await wallet(operator).deployContract({
          abi: TestToken.abi,
          bytecode: TestToken.bytecode as Hex,
          args: ['Tether USD (testnet)', 'USDT', 6],
        }),
      });
      token = deployed.contractAddress!;
      await client().waitForTransactionReceipt({
        hash: await wallet(operator).writeContract({
          address: token,
          abi: TestToken.abi,
          functionName: 'mint',
          args: [payer.address, parseUnits('1000', 6)],
        }),
      });
      await new Promise<void>((r) => hooks.listen(0, WEBHOOK_HOST!, r));

      const port = await freePort();
      base = `http://127.0.0.1:${port}`;
      const env = await productionEnv({
        ALLOW_INSECURE_HTTP: '1',
        PUBLIC_URL: base,
        PORT: String(port),
        HOST: '127.0.0.1',
        DATA_DIR: dataDir,
        LOG_LEVEL: 'warn',
        CHAIN_RPC_URL: `ETH=${anvil.rpcUrl}`,
        CHAIN_TOKENS: `ETH:USDT=${token}`,
      });
      adminToken = env.ADMIN_TOKEN!;
      // An operator's database: PostgreSQL when the suite has one, else the embedded PGlite in DATA_DIR.
      if (PG_URL) {
        dbName = `rampart_prod_${randomBytes(5).toString('hex')}`;
        const setup = new pg.Client({ connectionString: PG_URL });
        await setup.connect();
        await setup.query(`CREATE DATABASE ${dbName}`);
        await setup.end();
        const url = new URL(PG_URL);
        url.pathname = `/${dbName}`;
        env.DATABASE_URL = url.toString();
      }
      const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
      if (!PG_URL) delete childEnv.DATABASE_URL;
      delete childEnv.TEST_DATABASE_URL;
      server = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
        cwd: join(import.meta.dirname, '..'),
        env: childEnv,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      server.stderr!.on('data', (c) => (stderr = (stderr + c).slice(-8000)));
      await waitFor(
        'the production server answers',
        async () => {
          if (server.exitCode !== null) throw new Error(`server exited ${server.exitCode}: ${stderr}`);
          return fetch(`${base}/healthz`).then(
            (r) => r.ok,
            () => false,
          );
        },
        60_000,
        100,
      );
    });

    after(async () => {
      if (server && server.exitCode === null) {
        server.kill('SIGTERM');
        await new Promise((r) => server.once('exit', r));
      }
      await anvil?.stop();
      hooks.close();
      if (dbName) {
        const db = new pg.Client({ connectionString: PG_URL });
        await db.connect();
        await db.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
        await db.end();
      }
      rmSync(dataDir, { recursive: true, force: true });
    });

    test(
      'an order paid by a token transfer from outside, PAY_SUCCESS verified, the balance settled on chain',
      {
        timeout: 300_000,
      },
      async () => {
        assert.equal((await admin('GET', '/sandbox/v1/clock')).status, 404, 'no sandbox helpers in production');
        // Before anything has used the chain, the operator already sees where the hot wallet is.
        const fresh = await admin('GET', '/admin/v1/chain/hot-wallets');
        const freshEth = (fresh.json.hotWallets as any[]).find((w) => w.network === 'ETH' && w.asset === 'ETH');
        assert.match(freshEth?.address ?? '', /^0x[0-9a-fA-F]{40}$/, JSON.stringify(fresh.json));
        assert.equal(freshEth.onChain, '0');
        const m = await admin('POST', '/admin/v1/merchants', { name: 'Production Shop' });
        assert.equal(m.status, 201, JSON.stringify(m.json));
        const pay = payClient(base, m.json.apiKey, m.json.apiSecret);
        const hookUrl = `http://${WEBHOOK_HOST}:${(hooks.address() as AddressInfo).port}/binance-pay`;
        const created = await pay.post(
          '/v3/order',
          v3Order({ orderAmount: ORDER_AMOUNT, currency: 'USDT', webhookUrl: hookUrl }),
        );
        assert.equal(created.json.status, 'SUCCESS', created.text);
        const { prepayId, checkoutUrl } = created.json.data as { prepayId: string; checkoutUrl: string };
        const checkoutToken = checkoutUrl.split('/').pop()!;

        // The payer opens the checkout and chooses to pay from another wallet: USDT on ETH.
        const browser = formBrowser(base);
        const chooser = await browser.get(`/checkout/${checkoutToken}/onchain`);
        assert.equal(chooser.status, 200);
        const csrf = browser.csrfIn(chooser.body);
        assert.equal(
          (await browser.post(`/checkout/${checkoutToken}/onchain`, { csrf, option: 'USDT@ETH' })).status,
          303,
        );
        const state = async () =>
          (await (await fetch(`${base}/checkout/${checkoutToken}/onchain/status`)).json()) as Record<string, any>;
        const shown = await state();
        assert.equal(shown.network, 'ETH');
        assert.equal(shown.amount, ORDER_AMOUNT);
        const page = await browser.get(`/checkout/${checkoutToken}/onchain`);
        assert.ok(page.body.includes(shown.address), 'the page shows the address');

        // The transfer from the payer's own wallet, to the address the checkout showed.
        const transfer = await wallet(payer).writeContract({
          address: token,
          abi: erc20Abi,
          functionName: 'transfer',
          args: [shown.address, parseUnits(ORDER_AMOUNT, 6)],
        });
        await mineUntil('the order is paid', async () => (await state()).orderStatus === 'PAID' && true);
        const query = await pay.post('/v2/order/query', { prepayId });
        assert.equal(query.json.data.status, 'PAID', query.text);

        // The PAY_SUCCESS webhook, verified as an integrator does, with the network and transaction in paymentInfo.
        const verifier = createPayWebhookVerifier(pay);
        const hook = await waitFor('PAY_SUCCESS', () => received.find((r) => r.body.includes('PAY_SUCCESS')), 30_000);
        const verified = await verifier.verify(hook.headers, hook.body);
        assert.equal(verified.bizType, 'PAY');
        assert.equal(verified.bizStatus, 'PAY_SUCCESS');
        assert.equal(verified.data.merchantTradeNo, query.json.data.merchantTradeNo);
        assert.match(JSON.stringify(verified.data.paymentInfo), new RegExp(transfer.slice(2, 12), 'i'));
        assert.match(JSON.stringify(verified.data.paymentInfo), /ETH/);

        // The sweep of the order's address needs gas the fresh hot wallet does not have: it waits, and the operator
        // sees why and where to send it.
        const short = await mineUntil('the hot wallet warning', async () => {
          const hw = await admin('GET', '/admin/v1/chain/hot-wallets');
          return hw.json.hotWallets?.find((w: any) => w.asset === 'ETH' && w.warning);
        });
        const hot = short.address as Address;
        assert.equal(hot, freshEth.address);
        assert.equal(await usdtOf(shown.address), ORDER_AMOUNT, 'still on the order address');
        const gas = await wallet(operator).sendTransaction({ to: hot, value: parseEther('1') });
        await mineUntil('the top-up is booked', async () => {
          const r = await admin('POST', '/admin/v1/chain/top-ups', { network: 'ETH', txHash: gas });
          return r.status === 200 && r.json;
        });
        await mineUntil('the deposit is swept into the hot wallet', async () => (await usdtOf(hot)) === ORDER_AMOUNT);
        assert.equal(await usdtOf(shown.address), '0');

        // Settlement to the merchant's own address (the operator vouches for it: no cooling-off).
        const added = await admin('POST', `/admin/v1/merchants/${m.json.merchantId}/settlement/addresses`, {
          asset: 'USDT',
          network: 'ETH',
          address: merchantWallet,
          label: 'Treasury',
          coolingOff: false,
        });
        assert.equal(added.status, 201, JSON.stringify(added.json));
        const balance = await pay.post('/v2/balance', { wallet: 'FUNDING_WALLET' });
        const usdt = (balance.json.data.balance as any[]).find((b) => b.asset === 'USDT');
        const available = String(usdt.available);
        assert.equal(available, '24.75', 'the order less the 1% commission');
        const settle = await admin('POST', `/admin/v1/merchants/${m.json.merchantId}/settlement/withdrawals`, {
          addressId: added.json.id,
          amount: available,
          requestKey: 'prod-settle-1',
        });
        assert.ok(settle.status === 200 || settle.status === 201, JSON.stringify(settle.json));
        const settlementId = settle.json.id ?? settle.json.settlementId;
        const done = await mineUntil('the settlement completes', async () => {
          const s = await admin('GET', `/admin/v1/settlements/${settlementId}`);
          return s.json.status === 'COMPLETED' && s.json;
        });
        assert.ok(done);
        // The merchant's address holds what was settled less the network fee; the hot wallet what was swept less that.
        assert.equal(await usdtOf(merchantWallet), '23.75');
        assert.equal(await usdtOf(hot), '1.25');

        const audit = await admin('GET', '/admin/v1/ledger/audit');
        assert.equal(audit.json.ok, true, JSON.stringify(audit.json.problems));
        const wallets = audit.json.reconciled.hotWallets as { asset: string; drift: string }[];
        assert.ok(wallets.some((w) => w.asset === 'USDT'));
        for (const w of wallets) assert.equal(w.drift, '0', `${w.asset} reconciles with the chain`);
      },
    );
  },
);
