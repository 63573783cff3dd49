import assert from 'node:assert/strict';
import { createMerchant, type TestApp } from './helpers.ts';
import { createPayWebhookVerifier, type VerifiedPayWebhook } from './support/pay-webhook-verifier.ts';
import { startReceiver, waitFor } from './support/webhook-receiver.ts';

/** Shared fixtures of the TSP suites: a TSP with a webhook receiver, merchants, authorizations. */
export const ALL_SCOPES = ['CONVERT', 'REFUND', 'CHECKOUT', 'PAYOUT', 'REPORT', 'INTERNAL_TRANSFER', 'BALANCE'];
let seq = 0;

export async function createTsp(t: TestApp, opts: { name?: string; allowScopes?: string[]; email?: string } = {}) {
  const receiver = await startReceiver();
  const email = opts.email ?? `tsp${++seq}-${Date.now()}@example.com`;
  const m = await createMerchant(t, {
    name: opts.name ?? 'Acme Integrations',
    webhookUrl: receiver.url('/tsp-hook'),
    email,
  });
  const p = await t.admin('PATCH', `/admin/v1/merchants/${m.merchantId}`, {
    tsp: { allowScopes: opts.allowScopes ?? ALL_SCOPES, allowFeeShare: false },
  });
  assert.equal(p.status, 200, JSON.stringify(p.json));
  const verifier = createPayWebhookVerifier(m.client);
  /** Waits for the TECH_PROVIDER webhook of one authorization and status, verified like an integrator would. */
  async function webhook(authorizationId: string, bizStatus: string): Promise<VerifiedPayWebhook> {
    const req = await waitFor(
      `${bizStatus} for ${authorizationId}`,
      () =>
        receiver.received.find((r) => {
          const text = r.body.toString('utf8');
          return text.includes(`"bizIdStr":"${authorizationId}"`) && text.includes(`"bizStatus":"${bizStatus}"`);
        }),
      15_000,
    );
    return verifier.verify(req.headers as any, req.body);
  }
  const count = (authorizationId: string) =>
    receiver.received.filter((r) => r.body.toString('utf8').includes(`"bizIdStr":"${authorizationId}"`)).length;
  return { ...m, email, receiver, webhook, count };
}
export type Tsp = Awaited<ReturnType<typeof createTsp>>;

export async function createAuthorization(tsp: Tsp, merchantId: string, scopes: string[], ipWhitelist: string[] = []) {
  const r = await tsp.client.post('/service/provider/create', { merchantId, scopes, ipWhitelist });
  assert.equal(r.json.status, 'SUCCESS', r.text);
  return r.json.data as {
    authorizationId: string;
    authorizationToken: string;
    redirectUrl: string;
    status: string;
    scopes: string[];
    ipWhitelist: string[];
  };
}

export async function decide(t: TestApp, authorizationId: string, decision: 'AGREE' | 'REJECT') {
  return t.admin('POST', `/sandbox/v1/tsp/authorizations/${authorizationId}/decision`, { decision });
}

/** An AUTHORIZED authorization of the TSP for the merchant, with its token. */
export async function authorize(
  t: TestApp,
  tsp: Tsp,
  merchantId: string,
  scopes: string[],
  ipWhitelist: string[] = [],
) {
  const a = await createAuthorization(tsp, merchantId, scopes, ipWhitelist);
  const d = await decide(t, a.authorizationId, 'AGREE');
  assert.equal(d.status, 200, JSON.stringify(d.json));
  return a;
}
