import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { createWalletClient, http, parseUnits, type Address } from 'viem';
import { mnemonicToAccount } from 'viem/accounts';
import { ANVIL_DEV_MNEMONIC } from '../src/chain/anvil.ts';
import TestToken from '../src/chain/contracts/TestToken.json' with { type: 'json' };
import { evmChain } from '../src/chain/evm.ts';
import { assertAuditOk, createMerchant, startTestApp, v3Order, type TestApp } from './helpers.ts';
import { browserSkip, launchBrowser, PHONE, phoneFit, type Browser } from './support/browser.ts';

/**
 * Paying a hosted checkout from another wallet in Chromium on a phone screen: the payer picks USDT on Ethereum, the
 * page shows the order's address and the exact amount, the test sends the token transfer from an anvil dev account
 * while the page is open, and the page follows it (seen, confirmations counting, paid) without a reload.
 */
const text = async (page: Page, sel: string) => (await page.innerText(sel)).replace(/\s+/g, ' ').trim();

// One database: the pages are the subject here; test/pay-onchain.test.ts runs the same flows on both.
for (const kind of ['pglite'] as const) {
  describe(`pay a checkout from another wallet in Chromium (${kind})`, { skip: browserSkip }, () => {
    let t: TestApp;
    let browser: Browser;

    before(async () => {
      t = await startTestApp({ kind, workers: true });
      browser = await launchBrowser();
    });
    after(async () => {
      await browser?.close();
      if (t) await assertAuditOk(t);
      await t?.close();
    });

    test('choose USDT on Ethereum, send it from another wallet, watch the page turn to paid', async () => {
      const m = await createMerchant(t, { name: 'Gelato Corner' });
      const created = await m.client.post(
        '/v3/order',
        v3Order({ orderAmount: '25.17', currency: 'USDT', description: 'Two scoops, waffle cone' }),
      );
      assert.equal(created.json.status, 'SUCCESS', created.text);
      const { checkoutUrl, prepayId } = created.json.data as { checkoutUrl: string; prepayId: string };

      const page = await browser.newPage();
      await page.setViewportSize(PHONE);
      const shot = async (name: string) => {
        assert.deepEqual(await phoneFit(page), [], `${name} on a phone`);
        await browser.screenshot(page, `${kind}-onchain-${name}`);
      };
      await page.goto(checkoutUrl);
      assert.match((await page.getAttribute('#signup', 'href')) ?? '', /^\/signup\?next=%2Fcheckout%2F[a-z0-9]{16}$/);
      await shot('1-checkout');

      await page.click('#onchain');
      await page.waitForSelector('#choose');
      await page.check('input[value="USDT@ETH"]');
      await shot('2-choose');
      await page.click('#choose');
      await page.waitForSelector('#pay-address');
      const address = await text(page, '#pay-address');
      assert.match(address, /^0x[0-9a-fA-F]{40}$/);
      assert.equal(await text(page, '#pay-amount'), '25.17 USDT');
      assert.equal(await text(page, '#pay-network'), 'ETH');
      assert.match(await text(page, '#onchain-status'), /Waiting for your transfer of 25\.17 USDT/);
      await page.waitForFunction(
        () => ((document.getElementById('onchain-qr') as HTMLImageElement | null)?.naturalWidth ?? 0) > 0,
      );
      await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
      await page.click('#copy-address');
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), address);
      await shot('3-address');

      // From here on the page must follow the payment by itself: a reload would drop this marker.
      await page.evaluate(() => ((window as unknown as { stayed: boolean }).stayed = true));
      const eth = await t.app.services.chain.evm('ETH');
      const chain = evmChain(eth.chainId, 'ETH', eth.nativeAsset, eth.rpcUrl);
      const usdt = eth.tokens.get('USDT')!.address;
      const deployer = mnemonicToAccount(ANVIL_DEV_MNEMONIC);
      const payer = mnemonicToAccount(ANVIL_DEV_MNEMONIC, { addressIndex: 1 });
      const minted = await createWalletClient({ account: deployer, chain, transport: http(eth.rpcUrl) }).writeContract({
        address: usdt,
        abi: TestToken.abi,
        functionName: 'mint',
        args: [payer.address, parseUnits('100', 6)],
        chain,
        account: deployer,
      });
      await eth.client.waitForTransactionReceipt({ hash: minted, pollingInterval: 50 });
      const sent = await createWalletClient({ account: payer, chain, transport: http(eth.rpcUrl) }).writeContract({
        address: usdt,
        abi: TestToken.abi,
        functionName: 'transfer',
        args: [address as Address, parseUnits('25.17', 6)],
        chain,
        account: payer,
      });
      await eth.client.waitForTransactionReceipt({ hash: sent, pollingInterval: 50 });

      await page.waitForFunction(
        () =>
          /Transfer of 25\.17 USDT seen: \d+ of 12 confirmations/.test(
            document.getElementById('onchain-status')?.textContent ?? '',
          ),
        undefined,
        { timeout: 20_000 },
      );
      assert.match(await text(page, '#transfers'), /25\.17 USDT \d+\/12 confirmations/);
      await shot('4-seen');

      await eth.client.request({ method: 'anvil_mine' as never, params: ['0xc'] as never });
      await page.waitForFunction(
        () => (document.getElementById('onchain-status')?.textContent ?? '').startsWith('Paid.'),
        undefined,
        { timeout: 20_000 },
      );
      assert.equal(await page.evaluate(() => (window as unknown as { stayed?: boolean }).stayed), true, 'no reload');
      assert.equal(await page.isHidden('#pay-details'), true, 'the address is no longer offered');
      assert.equal(await page.isVisible('#return'), true);
      assert.match(await text(page, '#received'), /^25\.17 USDT$/);
      await page.waitForFunction(() => /confirmed/.test(document.getElementById('transfers')?.textContent ?? ''));
      await shot('5-paid');

      const q = await m.client.post('/v2/order/query', { prepayId });
      assert.equal(q.json.data.status, 'PAID');
      assert.deepEqual(q.json.data.paymentInfo.transactions, [sent]);
      await page.close();
    });
  });
}
