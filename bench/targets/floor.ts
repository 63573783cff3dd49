import { createLogger } from '../../src/platform/logger.ts';
import { randomAlnum, safeEqual } from '../../src/platform/crypto.ts';
import type { Db } from '../../src/platform/db/client.ts';
import { createHttp } from '../../src/platform/http.ts';
import { signPay } from '../../src/pay/auth.ts';
import { envelope } from '../../src/pay/family.ts';
import type { Target } from '../lib/server.ts';

export const FLOOR_PATH = '/binancepay/openapi/bench/noop';

/**
 * The floor: the same fastify stack (createHttp, raw-body parser, helmet, metrics hook) answering a signed no-op
 * that checks the same HMAC-SHA512 signature over the raw bytes and does one plain INSERT through the same driver.
 */
export async function startFloor(db: Db, port: number): Promise<Target> {
  const baseUrl = `http://127.0.0.1:${port}`;
  const apiKey = randomAlnum(64);
  const apiSecret = randomAlnum(64);
  await db.query(
    `CREATE TABLE bench_floor (api_key text NOT NULL, nonce text NOT NULL, seen_at bigint
      NOT NULL, PRIMARY KEY (api_key, nonce))`,
  );
  const app = await createHttp({ logger: createLogger('silent'), trustedProxies: [], publicUrl: baseUrl });
  const ok = envelope({ data: true });
  const bad = envelope({ code: '400002', message: 'Signature for this request is not valid.' });
  app.post(FLOOR_PATH, async (req, reply) => {
    const h = (n: string) => String(req.headers[n] ?? '');
    const timestamp = h('binancepay-timestamp');
    const nonce = h('binancepay-nonce');
    if (
      h('binancepay-certificate-sn') !== apiKey ||
      !safeEqual(signPay(apiSecret, timestamp, nonce, req.rawBody ?? Buffer.alloc(0)), h('binancepay-signature'))
    ) {
      return reply.code(200).type('application/json').send(bad);
    }
    await db.query(`INSERT INTO bench_floor (api_key, nonce, seen_at) VALUES ($1, $2, $3)`, [
      apiKey,
      nonce,
      Date.now(),
    ]);
    return reply.code(200).type('application/json').send(ok);
  });
  await app.ready();
  await app.listen({ port, host: '127.0.0.1' });
  return { info: { baseUrl, apiKey, apiSecret }, close: () => app.close() };
}
