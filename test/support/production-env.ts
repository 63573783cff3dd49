import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Environment for a production-mode test app: the strong secrets and the price feed production refuses to
 * start without (src/config.ts). The feed is a local ticker stub shared by the process; it does not keep the
 * process alive.
 */
let feed: Promise<string> | null = null;

function priceFeedUrl(): Promise<string> {
  feed ??= new Promise((resolve) => {
    const server: Server = createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify([
          { symbol: 'EURUSDT', price: '1.08' },
          { symbol: 'BNBUSDT', price: '600' },
          { symbol: 'BTCUSDT', price: '60000' },
        ]),
      ),
    );
    server.listen(0, '127.0.0.1', () => {
      server.unref();
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v3/ticker/price`);
    });
  });
  return feed;
}

export async function productionEnv(extra: Record<string, string> = {}): Promise<Record<string, string>> {
  return {
    RAMPART_MODE: 'production',
    ADMIN_TOKEN: randomBytes(24).toString('hex'),
    SECRETS_KEY: randomBytes(32).toString('hex'),
    PRICE_FEED_URL: await priceFeedUrl(),
    ...extra,
  };
}
