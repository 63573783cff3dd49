import { z } from 'zod';

/** Environment, parsed once. Names and defaults are those of shared/spec/platform.md. */
const EnvSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().default('127.0.0.1'),
  PUBLIC_URL: z.string().url().optional(),
  DATA_DIR: z.string().default('./data'),
  DATABASE_URL: z.string().optional(),
  RAMPART_MODE: z.enum(['sandbox', 'production']).default('sandbox'),
  ADMIN_TOKEN: z.string().min(16).optional(),
  SECRETS_KEY: z.string().regex(/^[0-9a-fA-F]{64}$/, 'SECRETS_KEY must be 64 hex characters').optional(),
  CHAIN_RPC_URL: z.string().optional(),
  SMTP_URL: z.string().optional(),
  WORKERS: z.coerce.number().int().min(0).default(1),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // Binance Pay knobs (spec decisions marked configurable).
  PAY_TIMESTAMP_TOLERANCE_MS: z.coerce.number().int().positive().default(300_000),
  PAY_REJECT_NONCE_REPLAY: z.enum(['true', 'false']).default('true'),
  PAY_COMMISSION_RATE: z.string().regex(/^0(\.\d+)?$/).default('0.01'),
  PAY_DEFAULT_EXPIRE_MS: z.coerce.number().int().positive().default(3_600_000),
  TRUSTED_PROXIES: z.string().default(''),
  // Bearer token that opens /metrics to other than loopback clients; unset: loopback only.
  METRICS_TOKEN: z.string().optional(),
  // Production price feed (a public ticker in the shape of GET /api/v3/ticker/price); unset: the sandbox random walk.
  PRICE_FEED_URL: z.string().url().optional(),
  // Binance Connect knobs (binance-connect.md decisions marked configurable).
  CONNECT_TIMESTAMP_TOLERANCE_MS: z.coerce.number().int().positive().default(300_000),
  CONNECT_ORDER_TTL_MS: z.coerce.number().int().positive().default(1_800_000),
  CONNECT_RATE_PER_SECOND: z.coerce.number().int().positive().default(20),
  CONNECT_RESTRICTED_COUNTRIES: z.string().regex(/^([A-Za-z]{2}(,[A-Za-z]{2})*)?$/).default('CU,IR,KP,SY'),
});

export type Env = z.infer<typeof EnvSchema>;

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
  smtpUrl?: string;
  workers: number;
  logLevel: Env['LOG_LEVEL'];
  pay: {
    timestampToleranceMs: number;
    rejectNonceReplay: boolean;
    commissionRate: string;
    defaultExpireMs: number;
    maxExpireMs: number;
  };
  trustedProxies: string[];
  metricsToken?: string;
  priceFeedUrl?: string;
  connect: { timestampToleranceMs: number; orderTtlMs: number; restrictedCountries: string[]; ratePerSecond: number };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const e = EnvSchema.parse(env);
  if (e.RAMPART_MODE === 'production' && (!e.ADMIN_TOKEN || !e.SECRETS_KEY || !e.PUBLIC_URL)) {
    throw new Error('production mode requires ADMIN_TOKEN, SECRETS_KEY and PUBLIC_URL to be set explicitly');
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
    smtpUrl: e.SMTP_URL,
    workers: e.WORKERS,
    logLevel: e.LOG_LEVEL,
    pay: {
      timestampToleranceMs: e.PAY_TIMESTAMP_TOLERANCE_MS,
      rejectNonceReplay: e.PAY_REJECT_NONCE_REPLAY === 'true',
      commissionRate: e.PAY_COMMISSION_RATE,
      defaultExpireMs: e.PAY_DEFAULT_EXPIRE_MS,
      maxExpireMs: 15 * 24 * 3_600_000,
    },
    trustedProxies: e.TRUSTED_PROXIES.split(',').map((s) => s.trim()).filter(Boolean),
    metricsToken: e.METRICS_TOKEN || undefined,
    priceFeedUrl: e.PRICE_FEED_URL,
    connect: {
      timestampToleranceMs: e.CONNECT_TIMESTAMP_TOLERANCE_MS,
      orderTtlMs: e.CONNECT_ORDER_TTL_MS,
      ratePerSecond: e.CONNECT_RATE_PER_SECOND,
      restrictedCountries: e.CONNECT_RESTRICTED_COUNTRIES.split(',').filter(Boolean).map((c) => c.toUpperCase()),
    },
  };
}
