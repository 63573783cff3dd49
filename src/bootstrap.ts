import { generateKeyPairSync } from 'node:crypto';
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

const DEMO_MERCHANT = { name: 'Demo Merchant', dashboardEmail: 'merchant@demo.rampart.test' };
const DEMO_PAYER = {
  email: 'payer@demo.rampart.test',
  balances: { USDT: '10000', USDC: '5000', BNB: '25', BTC: '0.5', ETH: '5' },
};
const DEMO_PARTNER = {
  name: 'Demo Wallet',
  email: 'partner@demo.rampart.test',
  // Loopback in both families, so signed requests from this machine pass the IP whitelist however localhost resolves.
  ipWhitelist: ['127.0.0.1', '::1'],
};
const DEMO_PARTNER_KEY_FILE = 'demo-partner-key.pem';

/** A password made for this install: the seed writes it to the credentials file and stores only its hash. */
const demoPassword = () => randomString(20);

/**
 * First start in sandbox: a demo merchant with keys and a dashboard login, a funded payer (a person's account with
 * its payer profile, created together by the sandbox payers helper) and a Connect partner with a portal login and an
 * RSA key pair (its private key in DATA_DIR, so requests can be signed at once). The credentials file is the only
 * place the passwords and the API secret are written; it is created once, and the seed never runs again.
 */
export async function seedDemo(
  app: App,
  db: Db,
  config: Config,
): Promise<{ seeded: boolean; path: string; interrupted: boolean }> {
  const path = join(config.dataDir, 'demo-credentials.json');
  // Claimed before anything is created, so two processes starting together seed once. A seed cut short by a crash
  // stays claimed ('started'): the next start says so instead of failing on the accounts it did create.
  const claimed = await db.query(
    `INSERT INTO platform_settings (key, value) VALUES ('demo_seeded', 'started') ON CONFLICT DO NOTHING RETURNING key`,
  );
  if (claimed.rows.length === 0) {
    const state = (await db.query(`SELECT value FROM platform_settings WHERE key = 'demo_seeded'`)).rows[0];
    return { seeded: false, path, interrupted: state?.value === 'started' };
  }
  const { accounts, payers, merchantUsers, partners } = app.services;

  const merchant = await accounts.createMerchant({ name: DEMO_MERCHANT.name });
  if (!merchant.ok) throw new Error(`demo merchant: ${merchant.code}`);
  const merchantPassword = demoPassword();
  const dashboardUser = await merchantUsers.createWithPassword(
    merchant.value.merchantId,
    DEMO_MERCHANT.dashboardEmail,
    merchantPassword,
  );
  if (!dashboardUser.ok) throw new Error(`demo dashboard user: ${dashboardUser.code}`);

  const payerPassword = demoPassword();
  const payer = await payers.create({ ...DEMO_PAYER, password: payerPassword });
  if (!payer.ok) throw new Error(`demo payer: ${payer.code}`);

  const keyPair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const partner = await partners.create({
    ...DEMO_PARTNER,
    publicKey: keyPair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  });
  if (!partner.ok) throw new Error(`demo partner: ${partner.code}`);
  const partnerPassword = demoPassword();
  const portalLogin = await partners.setPasswordDirectly(partner.value.partner.code, partnerPassword);
  if (!portalLogin.ok) throw new Error(`demo partner password: ${portalLogin.code}`);
  const partnerKeyPath = join(config.dataDir, DEMO_PARTNER_KEY_FILE);
  writeFileSync(partnerKeyPath, keyPair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), {
    mode: 0o600,
  });

  const creds = {
    note: 'Sandbox demo accounts created on first start. The passwords and the API secret are shown only here.',
    publicUrl: config.publicUrl,
    merchant: merchant.value,
    dashboard: {
      loginUrl: `${config.publicUrl}/en/dashboard/login`,
      email: dashboardUser.value.email,
      password: merchantPassword,
    },
    // One account (issue #16): the same e-mail and password at the checkout, /login and the Connect buy flow.
    payer: {
      loginUrl: `${config.publicUrl}/login`,
      email: DEMO_PAYER.email,
      password: payerPassword,
      payerId: payer.value.payerId,
      balances: payer.value.balances,
    },
    partner: {
      merchantCode: partner.value.partner.code,
      apiBaseUrl: `${config.publicUrl}/gateway-api/v1/public/open-api/connect`,
      privateKeyFile: partnerKeyPath,
      ipWhitelist: DEMO_PARTNER.ipWhitelist,
      platformPublicKeyPem: partner.value.platformPublicKey,
      // Generation 2 (/papi/v1/ramp/connect/...): the same key signs; these two name the partner.
      clientId: partner.value.partner.clientId,
      signAccessToken: partner.value.signAccessToken,
      apiBaseUrlV2: `${config.publicUrl}/papi/v1/ramp/connect`,
      portal: {
        loginUrl: `${config.publicUrl}/en/partner/login`,
        email: DEMO_PARTNER.email,
        password: partnerPassword,
      },
    },
  };
  writeFileSync(path, JSON.stringify(creds, null, 2) + '\n', { mode: 0o600 });
  await db.query(`UPDATE platform_settings SET value = $1 WHERE key = 'demo_seeded'`, [String(Date.now())]);
  return { seeded: true, path, interrupted: false };
}
