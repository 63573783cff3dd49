import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A real HTTP webhook receiver on 127.0.0.1 with a programmable answer; records every request it gets. */
export interface ReceivedRequest {
  at: number;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Header names exactly as they were on the wire. */
  rawHeaderNames: string[];
  body: Buffer;
}

export type Answer = { status: number; body: string } | { hangMs: number };
export const ACK: Answer = { status: 200, body: '{"returnCode":"SUCCESS","returnMessage":null}' };

export async function startReceiver(
  answer: (req: ReceivedRequest, n: number) => Answer | Promise<Answer> = () => ACK,
  port = 0,
) {
  const received: ReceivedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const r: ReceivedRequest = {
        at: Date.now(),
        path: req.url ?? '/',
        headers: req.headers,
        rawHeaderNames: req.rawHeaders.filter((_, i) => i % 2 === 0),
        body: Buffer.concat(chunks),
      };
      received.push(r);
      const a = await answer(r, received.length);
      if ('hangMs' in a) {
        const t = setTimeout(
          () => res.writeHead(200, { 'content-type': 'application/json' }).end((ACK as { body: string }).body),
          a.hangMs,
        );
        res.on('close', () => clearTimeout(t));
        return;
      }
      res.writeHead(a.status, { 'content-type': 'application/json' }).end(a.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const actualPort = (server.address() as AddressInfo).port;
  return {
    received,
    port: actualPort,
    url: (path = '/hook') => `http://127.0.0.1:${actualPort}${path}`,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

type Truthy<T> = Exclude<T, false | null | undefined | 0 | ''>;

export async function waitFor<T>(
  what: string,
  fn: () => T | Promise<T>,
  timeoutMs = 10_000,
  everyMs = 25,
): Promise<Truthy<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as Truthy<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
