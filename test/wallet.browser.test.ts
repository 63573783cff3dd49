import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { createWalletClient, http, parseUnits, type Address } from 'viem';
import { mnemonicToAccount } from 'viem/accounts';
import { ANVIL_DEV_MNEMONIC } from '../src/chain/anvil.ts';
import TestToken from '../src/chain/contracts/TestToken.json' with { type: 'json' };
import { randomAddress } from './chain-fixture.ts';
import { assertAuditOk, createPayer, startTestApp, type TestApp } from './helpers.ts';
import { browserSkip, launchBrowser, PHONE, phoneFit, type Browser } from './support/browser.ts';

/**
 * The wallet in Chromium at 390 px on the embedded anvil: a token transfer from an anvil dev account to the address
 * the deposit page shows, confirmations counting up and the deposit turning credited without a reload, then a
 * withdrawal confirmed with the e-mailed code, sent on anvil and shown with its transaction. Phone screenshots are
 * kept in test-results/screenshots (wallet-*).
 */
// One database: the pages are the subject here; test/wallet.test.ts runs the same flows on both.
for (const kind of ['pglite'] as const) {
  describe(`wallet pages in Chromium at 390 px (${kind})`, { skip: browserSkip }, () => {
    let t: TestApp;
    let browser: Browser;
    let page: Page;
    let payer: Awaited<ReturnType<typeof createPayer>>;

    async function shot(name: string) {
      assert.deepEqual(await phoneFit(page), [], `${name} on a phone`);
      await browser.screenshot(page, `wallet-${kind}-${name}`);
    }
    const text = (sel: string) => page.innerText(sel);
    const mine = async (blocks: number) =>
      (await t.app.services.chain.evm('ETH')).client.request({
        method: 'anvil_mine' as any,
        params: [`0x${blocks.toString(16)}`] as any,
      });

    before(async () => {
      t = await startTestApp({ kind, workers: true });
      payer = await createPayer(t, `wallet-browser-${kind}@example.com`, {});
      browser = await launchBrowser();
      await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: t.baseUrl });
      page = await browser.newPage();
      await page.setViewportSize(PHONE);
    });
    after(async () => {
      await browser?.close();
      if (t) await assertAuditOk(t);
      await t?.close();
    });

    test('a token deposit counts its confirmations up and is credited on the open page', async () => {
      // Without a session the wallet sends the person to log in, and back to the wallet after.
      await page.goto(`${t.baseUrl}/wallet`);
      await page.waitForURL(/\/login\?next=%2Fwallet$/);
      await page.fill('#email', payer.email);
      await page.fill('#password', payer.password);
      await page.click('#login button[type=submit]');
      await page.waitForURL(/\/wallet$/);
      assert.match(await text('#no-balance'), /No funds yet/);
      assert.match(await text('#no-deposits'), /No deposits yet/);
      await shot('1-empty');
      await page.click('#deposit');
      await page.waitForURL(/\/wallet\/deposit$/);
      await shot('2-choose');
      await page.click('#dep-ETH-USDT');
      await page.waitForURL(/\/wallet\/deposit\/ETH\/USDT$/);
      const address = (await text('#address')) as Address;
      assert.equal(address, (await t.app.services.chain.depositAddress('payer', payer.payerId)).address);
      assert.match(await text('#min'), /1\.00 USDT/);
      assert.match(await text('#confirmations'), /12 blocks/);
      await page.waitForFunction(() => (document.getElementById('qr') as HTMLImageElement | null)?.complete === true);
      assert.ok((await page.$eval('#qr', (img) => (img as HTMLImageElement).naturalWidth)) > 0);
      assert.match(
        (await page.getAttribute('#qr', 'data-uri'))!,
        /^ethereum:0x[0-9a-fA-F]{40}@31337\/transfer\?address=/,
      );
      await page.click('#copy');
      await page.waitForFunction(() => document.getElementById('copied')?.textContent === 'Address copied.');
      assert.equal(await page.evaluate(() => window.navigator.clipboard.readText()), address);
      await shot('3-deposit-address');

      // Marks this page load: a reload would drop it.
      await page.evaluate(() => ((window as any).stillTheSamePage = true));
      const eth = await t.app.services.chain.evm('ETH');
      const usdt = eth.tokens.get('USDT')!;
      const owner = createWalletClient({ account: mnemonicToAccount(ANVIL_DEV_MNEMONIC), transport: http(eth.rpcUrl) });
      const sender = mnemonicToAccount(ANVIL_DEV_MNEMONIC, { addressIndex: 1 });
      const dev = createWalletClient({ account: sender, transport: http(eth.rpcUrl) });
      await owner.writeContract({
        address: usdt.address,
        abi: TestToken.abi,
        functionName: 'mint',
        args: [sender.address, parseUnits('25', 6)],
        chain: null,
      });
      await dev.writeContract({
        address: usdt.address,
        abi: TestToken.abi,
        functionName: 'transfer',
        args: [address, parseUnits('25', 6)],
        chain: null,
      });
      await page.waitForSelector('[data-deposit] [data-field="state"]', { timeout: 20_000 });
      assert.match(await text('[data-deposit]'), /\+25\.00 USDT/);
      assert.match(await text('[data-deposit] [data-field="state"]'), /^Pending · [1-3]\/12 confirmations$/);
      await shot('4-deposit-pending');
      await mine(5);
      await page.waitForFunction(
        () =>
          /Pending · ([6-9]|1[01])\/12/.test(
            document.querySelector('[data-deposit] [data-field="state"]')!.textContent!,
          ),
        undefined,
        { timeout: 20_000 },
      );
      await mine(6);
      await page.waitForFunction(
        () => document.querySelector('[data-deposit] [data-field="state"]')?.textContent === 'Credited',
        undefined,
        { timeout: 20_000 },
      );
      await page.waitForFunction(
        () => document.querySelector('[data-balance="USDT"] [data-field="available"]')?.textContent === '25.00',
        undefined,
        { timeout: 10_000 },
      );
      assert.equal(await page.evaluate(() => (window as any).stillTheSamePage), true, 'no reload');
      await shot('5-deposit-credited');
    });

    test('a withdrawal with the e-mailed code is sent on anvil and listed with its transaction', async () => {
      await page.goto(`${t.baseUrl}/wallet/withdraw`);
      await shot('6-withdraw-form');
      const to = randomAddress();
      await page.check('input[name=option][value="USDT:ETH"]');
      await page.fill('#address', to);
      await page.fill('#amount', '30');
      await page.click('#review');
      assert.match(await text('#error'), /Not enough USDT: 31 needed/);
      await shot('7-withdraw-refused');
      await page.fill('#amount', '10');
      await page.click('#review');
      await page.waitForURL(/\/wallet\/withdrawals\/\d+$/);
      assert.equal(await text('#fee'), '1.00 USDT');
      assert.equal(await text('#total'), '11.00 USDT');
      assert.equal(await text('#state'), 'Waiting for your code');
      await shot('8-withdraw-code');
      const mail = (await t.app.services.mailer.list(payer.email))[0]!;
      const code = /is (\d{6})\./.exec(mail.text)![1]!;
      await page.fill('#code', code);
      await page.click('#confirm');
      await page.waitForFunction(() => /Sending/.test(document.getElementById('state')?.textContent ?? ''));
      await mine(12);
      // The page reloads itself when the withdrawal's state changes.
      await page.waitForFunction(() => document.getElementById('state')?.textContent === 'Sent', undefined, {
        timeout: 30_000,
      });
      const hash = await text('#tx');
      assert.match(hash, /^0x[0-9a-f]{64}$/);
      const receipt = await (
        await t.app.services.chain.evm('ETH')
      ).client.getTransactionReceipt({
        hash: hash as `0x${string}`,
      });
      assert.equal(receipt.status, 'success');
      await shot('9-withdraw-sent');

      await page.goto(`${t.baseUrl}/wallet`);
      assert.equal(await text('[data-balance="USDT"] [data-field="available"]'), '14.00');
      assert.match(await text('#withdrawals'), /−11\.00 USDT[\s\S]*Sent/);
      assert.match(await text('#deposits'), /\+25\.00 USDT[\s\S]*Credited/);
      await shot('10-wallet-history');
    });
  });
}
