import { z } from 'zod';
import { html, type SafeHtml } from '../../web/html.ts';
import { formText } from '../../web/page.ts';
import { secretOnceView } from './merchants-shared.ts';
import type { ConsoleSection } from './routes.ts';
import { CONSOLE, card, csrfField, time, type ConsoleCtx } from './views.ts';

/**
 * The sandbox panel (registered only in sandbox mode): advance the business clock, create a funded payer, decide a
 * KYC record (or a payer's payout KYC), pay an order as a payer. Each form is one call of the sandbox API.
 */
const BASE = `${CONSOLE}/sandbox`;
const UNITS: Record<string, number> = { minutes: 60_000, hours: 3_600_000, days: 86_400_000 };
const MAX_ADVANCE_MS = 400 * 86_400_000;

const ClockForm = z.object({ amount: formText, unit: formText });
const PayerForm = z.object({ email: formText, password: formText, asset: formText, balance: formText });
const KycForm = z.object({ userId: formText, decision: formText, reason: formText });
const PayForm = z.object({ prepayId: formText, payerEmail: formText, currency: formText });

function panelView(ctx: ConsoleCtx, clock: { now: number; offsetMs: number } | null): SafeHtml {
  const hours = clock ? Math.round(clock.offsetMs / 3_600_000) : 0;
  return html`${card(html`<h1>Sandbox</h1>
      <p class="muted">Test helpers of the sandbox API. They act as the platform would: a payment moves money through
      the ledger and sends its webhooks.</p>
      <h2>Clock</h2>
      <div class="row"><span>Business time</span><strong id="clock-now">${clock ? time(clock.now) : '—'}</strong></div>
      <div class="row"><span>Ahead of real time</span><span id="clock-offset">${
        clock ? `${clock.offsetMs} ms (about ${hours} h)` : '—'
      }</span></div>
      <form method="post" action="${BASE}/clock" id="advance-clock">${csrfField(ctx)}
        <label for="clock-amount">Advance by</label><input id="clock-amount" name="amount" type="number" min="1"
        step="1" required value="1">
        <label for="clock-unit">Unit</label><select id="clock-unit" name="unit"><option value="minutes">minutes</option>
        <option value="hours" selected>hours</option><option value="days">days</option></select>
        <button class="btn" type="submit">Advance the clock</button></form>
      <p class="muted small">Orders expire, retries come due and daily jobs run as if that time had passed; the clock
      never goes back.</p>`)}
    ${card(html`<h2>Create a funded payer</h2>
      <form method="post" action="${BASE}/payers" id="create-payer">${csrfField(ctx)}
        <label for="payer-email">E-mail</label><input id="payer-email" name="email" type="email" maxlength="254" required>
        <label for="payer-password">Password (optional, at least 8 characters; made up when empty)</label>
        <input id="payer-password" name="password" type="text" maxlength="128" autocomplete="off">
        <label for="payer-asset">Asset</label><input id="payer-asset" name="asset" type="text" maxlength="16"
        value="USDT" required>
        <label for="payer-balance">Balance</label><input id="payer-balance" name="balance" type="text"
        inputmode="decimal" value="100" required>
        <button class="btn" type="submit">Create the payer</button></form>`)}
    ${card(html`<h2>Decide KYC</h2>
      <p class="muted">A KYC record id (kycUserId) is decided as a reviewer would; a payer id sets the payer's payout
      KYC.</p>
      <form method="post" action="${BASE}/kyc" id="decide-kyc">${csrfField(ctx)}
        <label for="kyc-user">KYC record or payer id</label><input id="kyc-user" name="userId" type="text"
        inputmode="numeric" maxlength="19" required>
        <label for="kyc-reason">Reason (when rejecting)</label><input id="kyc-reason" name="reason" type="text"
        maxlength="256">
        <div class="actions"><button class="btn" type="submit" name="decision" value="PASS">Approve</button>
        <button class="btn secondary" type="submit" name="decision" value="REJECT">Reject</button></div></form>`)}
    ${card(html`<h2>Pay an order</h2>
      <form method="post" action="${BASE}/pay" id="pay-order">${csrfField(ctx)}
        <label for="pay-prepay">prepayId</label><input id="pay-prepay" name="prepayId" type="text" inputmode="numeric"
        maxlength="19" required>
        <label for="pay-email">Payer e-mail</label><input id="pay-email" name="payerEmail" type="email" maxlength="254"
        required>
        <label for="pay-currency">Pay with (optional)</label><input id="pay-currency" name="currency" type="text"
        maxlength="16" placeholder="the order's currency">
        <button class="btn" type="submit">Pay</button></form>`)}`;
}

const trimmed = (v: string | undefined) => (v ?? '').trim();

export const sandboxSection: ConsoleSection = (pages) => {
  pages.get('/sandbox', async (_req, reply, ctx) => {
    const res = await pages.api(ctx, 'GET', '/sandbox/v1/clock');
    return pages.frame(reply, 'Sandbox', panelView(ctx, res.ok ? res.body : null), ctx);
  });

  pages.postForm('/sandbox/clock', ClockForm, async (_req, reply, ctx, form) => {
    const amount = trimmed(form.amount);
    const unit = UNITS[trimmed(form.unit)];
    if (!/^\d{1,6}$/.test(amount) || Number(amount) === 0 || !unit)
      return pages.redirect(reply, BASE, { error: 'Enter a whole number of minutes, hours or days.' });
    const ms = Number(amount) * unit;
    if (ms > MAX_ADVANCE_MS) return pages.redirect(reply, BASE, { error: 'At most 400 days at a time.' });
    const res = await pages.api(ctx, 'POST', '/sandbox/v1/clock/advance', { ms });
    if (!res.ok) return pages.redirect(reply, BASE, { error: `Clock not moved: ${res.message}` });
    return pages.redirect(reply, BASE, {
      ok: `Clock advanced by ${amount} ${trimmed(form.unit)}: it is now ${time(res.body.now)}.`,
    });
  });

  pages.postForm('/sandbox/payers', PayerForm, async (_req, reply, ctx, form) => {
    const asset = trimmed(form.asset).toUpperCase();
    const balance = trimmed(form.balance);
    const password = trimmed(form.password);
    const res = await pages.api(ctx, 'POST', '/sandbox/v1/payers', {
      email: trimmed(form.email),
      ...(password ? { password } : {}),
      balances: asset && balance ? { [asset]: balance } : {},
    });
    if (!res.ok) return pages.redirect(reply, BASE, { error: `No payer created: ${res.message}` });
    const b = res.body as { payerId: string; email: string; password: string; balances: Record<string, string> };
    const funded = Object.entries(b.balances)
      .map(([a, v]) => `${v} ${a}`)
      .join(', ');
    // The password is shown on this answer only (rendered from the POST), never carried in the flash cookie.
    return pages.frame(
      reply,
      'Payer created',
      secretOnceView({
        title: 'Payer created',
        intro: `Payer ${b.email} created${funded ? ` with ${funded}` : ''}.`,
        rows: [
          ['Payer id', b.payerId],
          ['E-mail', b.email],
        ],
        secretLabel: 'Password',
        secret: b.password,
        back: { href: BASE, label: 'Back to the sandbox panel' },
      }),
      ctx,
    );
  });

  pages.postForm('/sandbox/kyc', KycForm, async (_req, reply, ctx, form) => {
    const userId = trimmed(form.userId);
    if (!/^\d{1,19}$/.test(userId)) return pages.redirect(reply, BASE, { error: 'Enter a numeric id.' });
    if (form.decision !== 'PASS' && form.decision !== 'REJECT')
      return pages.redirect(reply, BASE, { error: 'Choose Approve or Reject.' });
    const reason = trimmed(form.reason).slice(0, 256);
    const res = await pages.api(ctx, 'POST', `/sandbox/v1/kyc/${userId}/decision`, {
      decision: form.decision,
      ...(reason ? { reason } : {}),
    });
    if (!res.ok) return pages.redirect(reply, BASE, { error: `Not decided: ${res.message}` });
    return pages.redirect(reply, BASE, {
      ok: `${userId} ${form.decision === 'PASS' ? 'approved' : 'rejected'}.`,
    });
  });

  pages.postForm('/sandbox/pay', PayForm, async (_req, reply, ctx, form) => {
    const prepayId = trimmed(form.prepayId);
    if (!/^\d{1,19}$/.test(prepayId)) return pages.redirect(reply, BASE, { error: 'Enter the order’s prepayId.' });
    const currency = trimmed(form.currency).toUpperCase();
    const res = await pages.api(ctx, 'POST', `/sandbox/v1/orders/${prepayId}/pay`, {
      payerEmail: trimmed(form.payerEmail),
      ...(currency ? { currency } : {}),
    });
    if (!res.ok) return pages.redirect(reply, BASE, { error: `Not paid: ${res.message}` });
    return pages.redirect(reply, BASE, {
      ok: `Order ${prepayId} is ${res.body.status} (transaction ${res.body.transactionId}).`,
    });
  });
};
