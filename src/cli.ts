import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildApp } from './app.ts';
import { loadOrCreateSecrets } from './bootstrap.ts';
import { loadConfig } from './config.ts';
import { openDatabase } from './platform/db/client.ts';
import { createLogger } from './platform/logger.ts';

/**
 * Operator CLI: `npx rampart <noun> <verb> [--flags]`. Each command is one admin API call; when a server is
 * running at PUBLIC_URL the CLI goes through its admin API (the embedded database can have only one process),
 * otherwise it opens the database itself and serves the same request in-process. Output is the API's JSON.
 */
/** The parsed flags (see OPTIONS): a string, a list of strings for repeatable flags, or true for switches. */
type Flags = Record<string, string | boolean | string[] | undefined>;

interface Command {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: (flags: Flags) => string;
  body?: (flags: Flags) => unknown;
  usage: string;
}

const list = (v: unknown) =>
  v === undefined
    ? undefined
    : ([] as string[])
        .concat(v as string)
        .flatMap((s) => s.split(','))
        .filter(Boolean);

/** `--enable payout --disable reports` → { payout: true, reports: false }; nothing given → no change. */
function featureChanges(enable?: string[], disable?: string[]) {
  if (!enable && !disable) return undefined;
  return Object.fromEntries([...(enable ?? []).map((f) => [f, true]), ...(disable ?? []).map((f) => [f, false])]);
}

const COMMANDS: Record<string, Command> = {
  'merchant create': {
    method: 'POST',
    path: () => '/admin/v1/merchants',
    usage: '--name NAME [--email EMAIL] [--webhook-url URL] [--ip IP ...]',
    // --email invites a dashboard user: the admin API mails it a link to set its password.
    body: (f) => ({ name: f.name, email: f.email, webhookUrl: f['webhook-url'], ipWhitelist: list(f.ip) }),
  },
  'merchant list': { method: 'GET', path: () => '/admin/v1/merchants', usage: '' },
  'merchant show': { method: 'GET', path: (f) => `/admin/v1/merchants/${f.id}`, usage: '--id MERCHANT_ID' },
  'merchant update': {
    method: 'PATCH',
    path: (f) => `/admin/v1/merchants/${f.id}`,
    usage:
      '--id MERCHANT_ID [--webhook-url URL] [--ip IP ...] [--enable FEATURE ...] [--disable FEATURE ...] ' +
      '[--payout-fee ASSET=AMOUNT ...]',
    body: (f) => ({
      webhookUrl: f['webhook-url'],
      ipWhitelist: list(f.ip),
      features: featureChanges(list(f.enable), list(f.disable)),
      payoutFee: list(f['payout-fee'])
        ? Object.fromEntries(list(f['payout-fee'])!.map((kv) => kv.split('=') as [string, string]))
        : undefined,
    }),
  },
  'key create': {
    method: 'POST',
    path: (f) => `/admin/v1/merchants/${f.merchant}/keys`,
    usage: '--merchant MERCHANT_ID [--ip IP ...] [--permission PAYOUT ...]',
    body: (f) => ({ ipWhitelist: list(f.ip), permissions: list(f.permission) }),
  },
  'key revoke': {
    method: 'DELETE',
    path: (f) => `/admin/v1/merchants/${f.merchant}/keys/${f.key}`,
    usage: '--merchant MERCHANT_ID --key API_KEY',
  },
  'ledger audit': { method: 'GET', path: () => '/admin/v1/ledger/audit', usage: '' },
  'broker create': {
    method: 'POST',
    path: () => '/admin/v1/brokers',
    usage: '--name NAME [--partial-sharing] [--ip IP ...] [--partner PARTNER_CODE]',
    body: (f) => ({
      name: f.name,
      partialSharing: f['partial-sharing'] === true,
      ipWhitelist: list(f.ip),
      connectPartnerCode: f.partner,
    }),
  },
  'broker list': { method: 'GET', path: () => '/admin/v1/brokers', usage: '' },
  'partner create': {
    method: 'POST',
    path: () => '/admin/v1/partners',
    usage:
      '--name NAME --email EMAIL --public-key FILE_OR_PEM --ip IP [--ip IP ...] [--redirect-domain HOST ...] ' +
      '[--webhook-url URL]',
    body: (f) => ({
      name: f.name,
      email: f.email,
      ipWhitelist: list(f.ip) ?? [],
      redirectDomains: list(f['redirect-domain']),
      webhookUrl: f['webhook-url'],
      // The flag takes the PEM itself or the path of the file openssl wrote.
      publicKeyPem:
        typeof f['public-key'] === 'string' && !f['public-key'].includes('-----BEGIN')
          ? readFileSync(f['public-key'], 'utf8')
          : f['public-key'],
    }),
  },
  'partner list': { method: 'GET', path: () => '/admin/v1/partners', usage: '' },
  'operator create': {
    method: 'POST',
    path: () => '/admin/v1/operators',
    usage: '--email EMAIL --role admin|reviewer',
    body: (f) => ({ email: f.email, role: f.role }),
  },
  'operator list': { method: 'GET', path: () => '/admin/v1/operators', usage: '' },
};

const OPTIONS = {
  name: { type: 'string' },
  'webhook-url': { type: 'string' },
  ip: { type: 'string', multiple: true },
  id: { type: 'string' },
  merchant: { type: 'string' },
  key: { type: 'string' },
  email: { type: 'string' },
  'public-key': { type: 'string' },
  'redirect-domain': { type: 'string', multiple: true },
  'partial-sharing': { type: 'boolean' },
  partner: { type: 'string' },
  enable: { type: 'string', multiple: true },
  disable: { type: 'string', multiple: true },
  'payout-fee': { type: 'string', multiple: true },
  permission: { type: 'string', multiple: true },
  role: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function usage(): string {
  return [
    'Usage: npx rampart <command> [flags]',
    '',
    ...Object.entries(COMMANDS).map(([k, c]) => `  ${k} ${c.usage}`),
  ].join('\n');
}

async function main(argv: string[]) {
  const parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  const values: Flags = parsed.values;
  const { positionals } = parsed;
  const name = positionals.slice(0, 2).join(' ');
  const cmd = COMMANDS[name];
  if (!cmd || values.help) {
    console.error(usage());
    return cmd ? 0 : 2;
  }
  const config = loadConfig();
  const secrets = loadOrCreateSecrets(config);
  const path = cmd.path(values);
  const body = cmd.body ? JSON.stringify(cmd.body(values)) : undefined;
  const headers: Record<string, string> = {
    authorization: `Bearer ${secrets.adminToken}`,
    ...(body ? { 'content-type': 'application/json' } : {}),
  };

  let res: { status: number; text: string };
  const live = await fetch(`${config.publicUrl}/healthz`, { signal: AbortSignal.timeout(1000) }).then(
    (r) => r.ok,
    () => false,
  );
  if (live) {
    const r = await fetch(config.publicUrl + path, { method: cmd.method, headers, body });
    res = { status: r.status, text: await r.text() };
  } else {
    const db = await openDatabase({
      url: config.databaseUrl,
      dataDir: config.databaseUrl ? undefined : join(config.dataDir, 'pglite'),
    });
    const app = await buildApp({
      config,
      db,
      adminToken: secrets.adminToken,
      secretsKey: secrets.secretsKey,
      logger: createLogger('silent'),
    });
    const server = await app.createServer();
    const r = await server.inject({ method: cmd.method, url: path, headers, payload: body });
    res = { status: r.statusCode, text: r.body };
    await server.close();
    await app.stopWorkers();
    await db.close();
  }
  let out: unknown = res.text;
  try {
    out = JSON.parse(res.text);
  } catch {
    // not JSON: print as is
  }
  console.log(typeof out === 'string' ? out : JSON.stringify(out, null, 2));
  return res.status < 400 ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2)).catch((e) => {
  console.error(String(e?.message ?? e));
  return 2;
});
