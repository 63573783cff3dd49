import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import { freePort } from './helpers.ts';

const run = promisify(execFile);
const dataDir = mkdtempSync(join(tmpdir(), 'rampart-cli-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

/** The CLI's environment in each test: the shared embedded database in dataDir, a free port, no log noise. */
const cliEnv = async () => ({
  ...process.env,
  DATA_DIR: dataDir,
  PORT: String(await freePort()),
  DATABASE_URL: '',
  LOG_LEVEL: 'silent',
});

test('npx rampart merchant create prints the admin API JSON; the merchant is then listed', async () => {
  const env = await cliEnv();
  const created = await run(
    process.execPath,
    ['bin/rampart.mjs', 'merchant', 'create', '--name', 'CLI Shop', '--ip', '127.0.0.1'],
    { env },
  );
  const json = JSON.parse(created.stdout);
  assert.deepEqual(Object.keys(json).sort(), ['apiKey', 'apiSecret', 'merchantId', 'merchantName']);
  assert.equal(json.merchantName, 'CLI Shop');
  assert.match(json.merchantId, /^\d{13}$/);
  assert.match(json.apiSecret, /^[a-z0-9]{64}$/);
  const listed = JSON.parse((await run(process.execPath, ['bin/rampart.mjs', 'merchant', 'list'], { env })).stdout);
  assert.deepEqual(
    listed.map((m: any) => m.merchantName),
    ['CLI Shop'],
  );
  // The extended surface's operator hooks (binance-pay-extended.md §18.5): feature flags, payout fee, key permissions.
  const updated = JSON.parse(
    (
      await run(
        process.execPath,
        [
          'bin/rampart.mjs',
          'merchant',
          'update',
          '--id',
          json.merchantId,
          '--enable',
          'channelPartner',
          '--disable',
          'reports',
          '--payout-fee',
          'USDT=0.5',
        ],
        { env },
      )
    ).stdout,
  );
  assert.equal(updated.features.channelPartner, true);
  assert.equal(updated.features.reports, false);
  assert.equal(updated.features.payout, true, 'a flag not named keeps the mode default');
  assert.deepEqual(updated.payoutFee, { USDT: '0.5' });
  const key = JSON.parse(
    (
      await run(
        process.execPath,
        ['bin/rampart.mjs', 'key', 'create', '--merchant', json.merchantId, '--permission', 'PAYOUT'],
        { env },
      )
    ).stdout,
  );
  const shown = JSON.parse(
    (await run(process.execPath, ['bin/rampart.mjs', 'merchant', 'show', '--id', json.merchantId], { env })).stdout,
  );
  assert.deepEqual(shown.keys.find((k: any) => k.apiKey === key.apiKey).permissions, ['PAYOUT']);
  assert.equal(shown.keys.find((k: any) => k.apiKey === json.apiKey).permissions, null, 'the mode default');
  const audit = JSON.parse((await run(process.execPath, ['bin/rampart.mjs', 'ledger', 'audit'], { env })).stdout);
  assert.equal(audit.ok, true);
  await assert.rejects(
    run(process.execPath, ['bin/rampart.mjs', 'merchant', 'fly'], { env }),
    (e: any) => e.code === 2 && /Usage/.test(e.stderr),
  );
});

test('npx rampart partner create sends the key file as publicKeyPem and prints platformPublicKeyPem', async () => {
  const env = await cliEnv();
  const keyFile = join(dataDir, 'partner.pem');
  writeFileSync(
    keyFile,
    generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }),
  );
  const created = await run(
    process.execPath,
    [
      'bin/rampart.mjs',
      'partner',
      'create',
      '--name',
      'CLI Wallet',
      '--email',
      'ops@cli-wallet.example',
      '--public-key',
      keyFile,
      '--ip',
      '127.0.0.1',
    ],
    { env },
  );
  const json = JSON.parse(created.stdout);
  assert.equal(json.merchantCode, 'cli_wallet_test');
  assert.match(json.platformPublicKeyPem, /^-----BEGIN PUBLIC KEY-----/);
});

test('npx rampart merchant create --email invites a dashboard user (the e-mail is then taken)', async () => {
  const env = await cliEnv();
  const create = (name: string) =>
    run(process.execPath, ['bin/rampart.mjs', 'merchant', 'create', '--name', name, '--email', 'Owner@Shop.example'], {
      env,
    });
  const json = JSON.parse((await create('Invited Shop')).stdout);
  assert.equal(json.merchantName, 'Invited Shop');
  assert.deepEqual(json.dashboardUser, { email: 'owner@shop.example' });
  await assert.rejects(
    create('Second Shop'),
    (e: any) => e.code === 1 && JSON.parse(e.stdout).error.code === 'EMAIL_TAKEN',
  );
});
