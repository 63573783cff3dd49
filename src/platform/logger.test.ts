import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from './logger.ts';

test('logs redact credentials, card data and KYC identity fields', () => {
  const lines: string[] = [];
  const log = createLogger('info', { write: (s: string) => lines.push(s) });
  log.info(
    {
      req: { headers: { authorization: 'Bearer admin-secret', 'binancepay-signature': 'ABC' } },
      body: {
        apiSecret: 's3cr3t',
        cardNumber: '4242424242424242',
        cvv: '123',
        firstName: 'Ada',
        idNumber: 'X123',
        amount: '10',
      },
    },
    'request',
  );
  const out = lines.join('');
  for (const secret of ['admin-secret', 's3cr3t', '4242424242424242', '"123"', 'Ada', 'X123', '"ABC"'])
    assert.ok(!out.includes(secret), `${secret} leaked: ${out}`);
  assert.ok(out.includes('"amount":"10"'));
});
