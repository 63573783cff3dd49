/**
 * What the shared webhook delivery engine needs to know about one API family (pay, connect, kyc):
 * how to sign the exact body bytes it sends, what counts as an acknowledgement, and its retry schedule.
 * Each family implements this beside its own code (e.g. src/pay/notify.ts); the engine lives in
 * src/platform/outbox/delivery.ts and handles the outbox topic 'webhook'.
 */
export interface WebhookFamily {
  /**
   * Headers to send with this attempt (fresh timestamp/nonce per attempt; the body bytes never change); `payload` is
   * the queued event, for headers that name its receiver.
   */
  sign(body: string, payload?: WebhookPayload): Promise<Record<string, string>> | Record<string, string>;
  /** True when the receiver's answer acknowledges the event. */
  isAck(status: number, responseBody: string): boolean;
  /** Delays after each failed attempt; its length is the number of retries. */
  retryDelaysMs: number[];
}

/**
 * Outbox payload of topic 'webhook'. The body is final: built once when the event committed. A body that carries a
 * secret (a TSP authorization token) is stored sealed in `sealedBody`, and `body` is then its redacted copy, the
 * only one the delivery log shows.
 */
export interface WebhookPayload {
  family: string;
  url: string;
  body: string;
  sealedBody?: string;
  bizType: string;
  bizId: string;
  bizStatus: string;
  /** The account the delivery belongs to (merchant id, partner code, broker key), for the delivery log. */
  ownerId: string;
  /** The receiver's id as the family's headers name it (Connect gen-2: X-BN-Connect-For = the client id). */
  recipient?: string;
}

export const WEBHOOK_TOPIC = 'webhook';

/**
 * The Binance-style acknowledgement shared by Pay and Connect: HTTP 2xx and a JSON object whose returnCode
 * is exactly "SUCCESS", or, when it has no returnCode, whose code is exactly "SUCCESS" (Binance's own sample
 * receiver answers {"code":"SUCCESS","message":"Done"}). A body that says returnCode "FAIL" is not an
 * acknowledgement whatever its code says.
 */
export function isReturnCodeSuccess(status: number, responseBody: string): boolean {
  if (status < 200 || status >= 300) return false;
  try {
    const parsed: unknown = JSON.parse(responseBody);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return false;
    const body = parsed as { returnCode?: unknown; code?: unknown };
    return body.returnCode !== undefined ? body.returnCode === 'SUCCESS' : body.code === 'SUCCESS';
  } catch {
    return false;
  }
}

/** The body with each secret value replaced, for storage in clear and the delivery log. */
export function redactBody(body: string, secrets: string[]): string {
  return secrets.filter((x) => x.length > 0).reduce((b, x) => b.split(x).join('[redacted]'), body);
}
