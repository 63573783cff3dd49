import { html, type SafeHtml } from '../../web/html.ts';
import type { ShareStatus } from './service.ts';

/** The payer's login card of the pages that need a logged-in user (share account consent, merchant QR scan). */
export function payerLoginCard(v: { action: string; csrf: string; next: string; title: string }): SafeHtml {
  return html`<div class="card"><h2>${v.title}</h2>
    <form method="post" action="${v.action}">
      <input type="hidden" name="csrf" value="${v.csrf}">
      <label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username" required>
      <label for="password">Password</label><input id="password" name="password" type="password"
      autocomplete="current-password" required>
      <button class="btn" id="login" type="submit">Log in</button>
    </form>
    <p class="muted">New here? <a id="signup" href="/signup?next=${encodeURIComponent(v.next)}">Sign up</a></p></div>`;
}

const STATUS_TEXT: Record<Exclude<ShareStatus, 'PENDING'>, { text: string; cls: string }> = {
  AGREED: { text: 'You shared your account ID.', cls: 'ok' },
  DECLINED: { text: 'You declined. Nothing was shared.', cls: 'bad' },
  EXPIRED: { text: 'This request has expired. Nothing was shared.', cls: 'bad' },
};

/**
 * The consent page of a share account id request (binance-pay-extended.md §17.2): who asks, what they will see, and
 * Agree / Decline for the logged-in user while the request is open.
 */
export function shareConsentView(v: {
  token: string;
  merchantName: string;
  status: ShareStatus;
  /** Whether the decision shown was taken by someone else (another user of this link). */
  decidedByOther: boolean;
  payer: { email: string; payerId: string } | null;
  csrf: string;
  expireTime: number;
  error?: string;
}): SafeHtml {
  const base = `/checkout/share-account/${v.token}`;
  const head = html`<div class="card"><h1 id="ask">${v.merchantName} asks to see your account ID</h1>
    <p class="muted">If you agree, ${v.merchantName} receives your account ID. Nothing else is shared and no money
    moves.</p>
    ${v.error ? html`<div class="error" role="alert" id="error">${v.error}</div>` : ''}
    <p class="muted small">This request expires at <span class="nowrap">${new Date(v.expireTime)
      .toISOString()
      .replace('T', ' ')
      .slice(0, 16)} UTC</span>.</p></div>`;
  if (v.status !== 'PENDING') {
    const s = STATUS_TEXT[v.status];
    const text = v.decidedByOther ? 'This request has already been answered.' : s.text;
    return html`${head}<div class="card"><div class="status ${s.cls}" id="status">${text}</div></div>`;
  }
  if (!v.payer)
    return html`${head}${payerLoginCard({ action: `${base}/login`, csrf: v.csrf, next: base, title: 'Log in to answer' })}`;
  return html`${head}<div class="card"><h2>Your account</h2>
    <div class="row"><span>Logged in as</span><span>${v.payer.email}</span></div>
    <div class="row"><span>Account ID</span><span class="mono" id="account-id">${v.payer.payerId}</span></div>
    <div class="actions">
      <form method="post" action="${base}/decision"><input type="hidden" name="csrf" value="${v.csrf}">
        <input type="hidden" name="decision" value="AGREE"><button class="btn" id="agree" type="submit">Agree</button></form>
      <form method="post" action="${base}/decision"><input type="hidden" name="csrf" value="${v.csrf}">
        <input type="hidden" name="decision" value="DECLINE"><button class="btn secondary" id="decline"
        type="submit">Decline</button></form>
    </div></div>`;
}

export const shareNotFoundView = () =>
  html`<div class="card"><h1>Request not found</h1><p class="muted">This link is not valid.</p></div>`;
