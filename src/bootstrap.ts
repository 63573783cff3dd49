import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { App } from './app.ts';
import type { Config } from './config.ts';
import { randomHex, randomString } from './platform/crypto.ts';
import type { Db } from './platform/db/client.ts';

/** Secrets that default to generated values kept in DATA_DIR (sandbox); production must set them explicitly. */
export function loadOrCreateSecrets(config: Config): {
  adminToken: string;
  secretsKey: string;
  adminTokenCreated: boolean;
} {
  mkdirSync(config.dataDir, { recursive: true });
  const read = (name: string, make: () => string) => {
    const path = join(config.dataDir, name);
    if (existsSync(path)) return { value: readFileSync(path, 'utf8').trim(), created: false };
    const value = make();
    writeFileSync(path, value + '\n', { mode: 0o600 });
    return { value, created: true };
  };
  const admin = config.adminToken
    ? { value: config.adminToken, created: false }
    : read('admin-token', () => randomString(48));
  const key = config.secretsKey
    ? { value: config.secretsKey, created: false }
    : read('secrets.key', () => randomHex(32));
  return { adminToken: admin.value, secretsKey: key.value, adminTokenCreated: admin.created };
}

const DEMO_MERCHANT = 'Demo Merchant';
const DEMO_PAYER = {
  email: 'payer@demo.rampart.test',
  password: 'demo-payer-password',
  balances: { USDT: '10000', USDC: '5000', BNB: '25', BTC: '0.5', ETH: '5' },
};

/**
 * First start in sandbox: a demo merchant with keys and a funded payer (a person's account with its payer profile,
 * created together by the sandbox payers helper), credentials written to DATA_DIR.
 */
export async function seedDemo(app: App, db: Db, config: Config): Promise<{ seeded: boolean; path: string }> {
  const path = join(config.dataDir, 'demo-credentials.json');
  const done = (await db.query(`SELECT value FROM platform_settings WHERE key = 'demo_seeded'`)).rows[0];
  if (done) return { seeded: false, path };
  const { accounts, payers } = app.services;
  const merchant = await accounts.createMerchant({ name: DEMO_MERCHANT });
  if (!merchant.ok) throw new Error(`demo merchant: ${merchant.code}`);
  const payer = await payers.create(DEMO_PAYER);
  if (!payer.ok) throw new Error(`demo payer: ${payer.code}`);
  const creds = {
    note: 'Sandbox demo accounts created on first start. The API secret is shown only here.',
    publicUrl: config.publicUrl,
    merchant: merchant.value,
    // One account (issue #16): the same e-mail and password at the checkout, /login and the Connect buy flow.
    payer: {
      loginUrl: `${config.publicUrl}/login`,
      email: DEMO_PAYER.email,
      password: DEMO_PAYER.password,
      payerId: payer.value.payerId,
      balances: payer.value.balances,
    },
  };
  writeFileSync(path, JSON.stringify(creds, null, 2) + '\n', { mode: 0o600 });
  await db.query(`INSERT INTO platform_settings (key, value) VALUES ('demo_seeded', $1) ON CONFLICT DO NOTHING`, [
    String(Date.now()),
  ]);
  return { seeded: true, path };
}
