import { z } from 'zod';

/** Environment, parsed once. Names and defaults are those of shared/spec/platform.md. */
const EnvSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().default('127.0.0.1'),
  PUBLIC_URL: z.string().url().optional(),
  DATA_DIR: z.string().default('./data'),
  DATABASE_URL: z.string().optional(),
  RAMPART_MODE: z.enum(['sandbox', 'production']).default('sandbox'),
  ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  SECRETS_KEY: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex characters (32 bytes, e.g. openssl rand -hex 32)')
    .optional(),
  // Production accepts a non-https PUBLIC_URL only with this set (and warns at every start).
  ALLOW_INSECURE_HTTP: z.enum(['0', '1', 'true', 'false']).optional(),
  // Sandbox webhooks and KYC image fetches may reach loopback and private addresses; default: only when HOST is
  // loopback.
  SANDBOX_ALLOW_PRIVATE_TARGETS: z.enum(['0', '1', 'true', 'false']).optional(),
  CHAIN_RPC_URL: z.string().optional(),
  // Token contracts other than the registry's mainnet ones (a testnet or a private chain): NETWORK:ASSET=0xADDRESS,...
  CHAIN_TOKENS: z
    .string()
    .regex(
      /^([A-Z0-9]+:[A-Z0-9]+=0x[0-9a-fA-F]{40}(,[A-Z0-9]+:[A-Z0-9]+=0x[0-9a-fA-F]{40})*)?$/,
      'must be NETWORK:ASSET=0x<40 hex>, comma-separated (e.g. ETH:USDT=0x...)',
    )
    .optional(),
  // How often the chain loop polls the nodes when it has nothing to do (ms).
  CHAIN_POLL_MS: z.coerce.number().int().min(20).max(60_000).default(1000),
  // Sweep credited deposits into the hot wallet; unset: on in production, off in the sandbox.
  CHAIN_SWEEP: z.enum(['0', '1', 'true', 'false']).optional(),
  SMTP_URL: z.string().optional(),
  WORKERS: z.coerce.number().int().min(0).default(1),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // Binance Pay knobs (spec decisions marked configurable).
  PAY_TIMESTAMP_TOLERANCE_MS: z.coerce.number().int().positive().default(300_000),
  PAY_REJECT_NONCE_REPLAY: z.enum(['true', 'false']).default('true'),
  PAY_COMMISSION_RATE: z
    .string()
    .regex(/^0(\.\d+)?$/)
    .default('0.01'),
  PAY_DEFAULT_EXPIRE_MS: z.coerce.number().int().positive().default(3_600_000),
  PAY_PAYOUT_MAX_USD_PER_TRANSFER: z
    .string()
    .regex(/^\d+(\.\d+)?$/, 'must be a decimal number')
    .default('80000'),
  // Convert (binance-pay-extended.md §15.5): how long a quote binds its rate (business time, ms), and the spread taken
  // off the mid by a pair the operator set without its own spreadBps (and by the sandbox's default pairs).
  PAY_CONVERT_QUOTE_VALIDITY_MS: z.coerce.number().int().min(1000).max(3_600_000).default(10_000),
  PAY_CONVERT_SPREAD_BPS: z.coerce.number().int().min(0).max(9999).default(50),
  // Direct debit (binance-pay-extended.md §14.2): a contract's singleUpperLimit, valued in USD, may not exceed this
  // (`pay.directDebitScenarioLimitUsd`); unset: 50 in production (the SDK's note), 10000 in the sandbox.
  PAY_DIRECT_DEBIT_SCENARIO_LIMIT_USD: z
    .string()
    .regex(/^\d+(\.\d+)?$/, 'must be a decimal number')
    .optional(),
  TRUSTED_PROXIES: z.string().default(''),
  // Bearer token that opens /metrics to other than loopback clients; unset: loopback only.
  METRICS_TOKEN: z.string().optional(),
  // Production price feed (a public ticker in the shape of GET /api/v3/ticker/price); unset: the sandbox random walk.
  PRICE_FEED_URL: z.string().url().optional(),
  // Binance Connect knobs (binance-connect.md decisions marked configurable).
  CONNECT_TIMESTAMP_TOLERANCE_MS: z.coerce.number().int().positive().default(300_000),
  CONNECT_ORDER_TTL_MS: z.coerce.number().int().positive().default(1_800_000),
  CONNECT_RATE_PER_SECOND: z.coerce.number().int().positive().default(20),
  CONNECT_RESTRICTED_COUNTRIES: z
    .string()
    .regex(/^([A-Za-z]{2}(,[A-Za-z]{2})*)?$/)
    .default('CU,IR,KP,SY'),
});

type Env = z.infer<typeof EnvSchema>;

/** A setting the process cannot start with: main prints its message as one line, without a stack trace. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Shannon entropy of the string's own characters, in bits per character: 0 for 'xxxx…', 1 for 'abab…',
 * about 3.7 to 4 for random hex or alphanumerics of 16 characters and more. It cannot see a dictionary word,
 * but it refuses the placeholder secrets (repeated or alternating characters, all zeros) people leave in.
 */
function bitsPerChar(s: string): number {
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) h -= (n / s.length) * Math.log2(n / s.length);
  return h;
}
/**
 * Production secrets need at least this many bits per character (see bitsPerChar); random hex of 16 characters has
 * about 3.3.
 */
const MIN_SECRET_BITS_PER_CHAR = 2;
/** True when the string is a shorter piece repeated ('abcdabcd…', 'changemechangeme', 'abcabca'). */
function isRepeatedPattern(s: string): boolean {
  for (let p = 1; p <= s.length / 2; p++) if (s.slice(p) === s.slice(0, s.length - p)) return true;
  return false;
}
const SECRET_HINT = 'generate one with: openssl rand -hex 32';

export interface Config {
  port: number;
  host: string;
  publicUrl: string;
  dataDir: string;
  databaseUrl?: string;
  mode: 'sandbox' | 'production';
  adminToken?: string;
  secretsKey?: string;
  chainRpcUrl?: string;
  /** CHAIN_TOKENS as given: token contracts that replace the registry's on a testnet or private chain. */
  chainTokens?: string;
  /** CHAIN_POLL_MS: the chain loop's idle wait between polls of the nodes. */
  chainPollMs: number;
  /** CHAIN_SWEEP: move credited deposits to the hot wallet (unset: the mode's default). */
  chainSweep?: boolean;
  smtpUrl?: string;
  workers: number;
  logLevel: Env['LOG_LEVEL'];
  pay: {
    timestampToleranceMs: number;
    rejectNonceReplay: boolean;
    commissionRate: string;
    defaultExpireMs: number;
    maxExpireMs: number;
    /** Largest payout transfer, valued in USD (binance-pay-extended.md §10.1). */
    payoutMaxUsdPerTransfer: string;
    /** The largest direct debit contract singleUpperLimit, valued in USD (binance-pay-extended.md §14.2). */
    directDebitScenarioLimitUsd: string;
    /** binance-pay-extended.md §15.5 `convert.quoteValidityMs` and `convert.spreadBps`. */
    convert: { quoteValidityMs: number; spreadBps: number };
  };
  trustedProxies: string[];
  metricsToken?: string;
  /**
   * Whether webhooks and KYC image fetches may reach loopback and private addresses. Never in production; in the
   * sandbox SANDBOX_ALLOW_PRIVATE_TARGETS, by default true only when HOST is a loopback address (a local sandbox),
   * so a sandbox open to the internet cannot be used to probe its own network.
   */
  allowPrivateTargets: boolean;
  /** Things an operator must see at start (e.g. production over plain http): main logs each at warn level. */
  warnings: string[];
  priceFeedUrl?: string;
  connect: { timestampToleranceMs: number; orderTtlMs: number; restrictedCountries: string[]; ratePerSecond: number };
}

/** A HOST that only this machine can reach: 127.0.0.0/8, ::1 or localhost. */
function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\./.test(h);
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => `${i.path.join('.') || 'environment'} ${i.message}`).join('; '),
    );
  }
  const e = parsed.data;
  const warnings: string[] = [];
  if (e.RAMPART_MODE === 'production') {
    if (!e.ADMIN_TOKEN || !e.SECRETS_KEY || !e.PUBLIC_URL) {
      throw new ConfigError('production mode requires ADMIN_TOKEN, SECRETS_KEY and PUBLIC_URL to be set explicitly');
    }
    for (const [name, value] of [
      ['ADMIN_TOKEN', e.ADMIN_TOKEN],
      ['SECRETS_KEY', e.SECRETS_KEY.toLowerCase()],
    ] as const) {
      const bits = bitsPerChar(value);
      const repeated = isRepeatedPattern(value);
      if (bits < MIN_SECRET_BITS_PER_CHAR || repeated) {
        throw new ConfigError(
          `${name} is low-entropy (${repeated ? 'a repeated pattern' : `${bits.toFixed(1)} bits per character`}): ` +
            `production needs at least ${MIN_SECRET_BITS_PER_CHAR} bits per character and no repeated ` +
            `pattern; ${SECRET_HINT}`,
        );
      }
    }
    if (!e.PRICE_FEED_URL) {
      throw new ConfigError(
        'production mode requires PRICE_FEED_URL (a ticker feed in the shape of GET /api/v3/ticker/price); the ' +
          'sandbox random-walk prices are never used in production',
      );
    }
    if (!e.PUBLIC_URL.startsWith('https://')) {
      const insecureOk = e.ALLOW_INSECURE_HTTP === '1' || e.ALLOW_INSECURE_HTTP === 'true';
      if (!insecureOk)
        throw new ConfigError(
          `PUBLIC_URL must be https:// in production (got ${e.PUBLIC_URL}); set ALLOW_INSECURE_HTTP=1 only behind a ` +
            `TLS-terminating proxy or for a closed test`,
        );
      warnings.push(
        `INSECURE: production is running with a non-https PUBLIC_URL (${e.PUBLIC_URL}) because ` +
          `ALLOW_INSECURE_HTTP=1: session cookies are not Secure and checkout, portal and webhook links go out over ` +
          `plain http`,
      );
    }
  }
  return {
    port: e.PORT,
    host: e.HOST,
    publicUrl: (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, ''),
    dataDir: e.DATA_DIR,
    databaseUrl: e.DATABASE_URL || undefined,
    mode: e.RAMPART_MODE,
    adminToken: e.ADMIN_TOKEN,
    secretsKey: e.SECRETS_KEY,
    chainRpcUrl: e.CHAIN_RPC_URL,
    chainTokens: e.CHAIN_TOKENS || undefined,
    chainPollMs: e.CHAIN_POLL_MS,
    chainSweep: e.CHAIN_SWEEP === undefined ? undefined : e.CHAIN_SWEEP === '1' || e.CHAIN_SWEEP === 'true',
    smtpUrl: e.SMTP_URL,
    workers: e.WORKERS,
    logLevel: e.LOG_LEVEL,
    pay: {
      timestampToleranceMs: e.PAY_TIMESTAMP_TOLERANCE_MS,
      rejectNonceReplay: e.PAY_REJECT_NONCE_REPLAY === 'true',
      commissionRate: e.PAY_COMMISSION_RATE,
      defaultExpireMs: e.PAY_DEFAULT_EXPIRE_MS,
      payoutMaxUsdPerTransfer: e.PAY_PAYOUT_MAX_USD_PER_TRANSFER,
      directDebitScenarioLimitUsd:
        e.PAY_DIRECT_DEBIT_SCENARIO_LIMIT_USD ?? (e.RAMPART_MODE === 'sandbox' ? '10000' : '50'),
      maxExpireMs: 15 * 24 * 3_600_000,
      convert: { quoteValidityMs: e.PAY_CONVERT_QUOTE_VALIDITY_MS, spreadBps: e.PAY_CONVERT_SPREAD_BPS },
    },
    trustedProxies: e.TRUSTED_PROXIES.split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    metricsToken: e.METRICS_TOKEN || undefined,
    allowPrivateTargets:
      e.RAMPART_MODE === 'sandbox' &&
      (e.SANDBOX_ALLOW_PRIVATE_TARGETS === undefined
        ? isLoopbackHost(e.HOST)
        : e.SANDBOX_ALLOW_PRIVATE_TARGETS === '1' || e.SANDBOX_ALLOW_PRIVATE_TARGETS === 'true'),
    warnings,
    priceFeedUrl: e.PRICE_FEED_URL,
    connect: {
      timestampToleranceMs: e.CONNECT_TIMESTAMP_TOLERANCE_MS,
      orderTtlMs: e.CONNECT_ORDER_TTL_MS,
      ratePerSecond: e.CONNECT_RATE_PER_SECOND,
      restrictedCountries: e.CONNECT_RESTRICTED_COUNTRIES.split(',')
        .filter(Boolean)
        .map((c) => c.toUpperCase()),
    },
  };
}
