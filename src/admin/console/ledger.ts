import { displayAmount } from '../../web/amount.ts';
import { html, type SafeHtml } from '../../web/html.ts';
import type { ConsoleSection } from './routes.ts';
import { CONSOLE, card, table, time } from './views.ts';

/**
 * The ledger, read-only: the audit with its problems listed, balances by account (owner, asset, posted / held /
 * available), and a transfer browser with filters and pages. Everything comes from the admin API.
 */
const OWNER_TYPES = ['merchant', 'merchant_spot', 'payer', 'user', 'partner', 'pay_order', 'platform'] as const;
const TRANSFER_STATUSES = ['POSTED', 'PENDING', 'VOIDED'] as const;
// Ids, kinds and refs: any printable text without spaces (the admin API checks lengths).
const TEXT = /^[^\s\p{Cc}]{1,200}$/u;

export interface TransferRow {
  id: string;
  debitAccount: string;
  creditAccount: string;
  asset: string;
  amount: string;
  status: string;
  kind: string;
  ref: string | null;
  createdAt: number;
  resolvedAt: number | null;
}
interface AccountRow {
  id: string;
  ownerType: string;
  ownerId: string;
  asset: string;
  posted: string;
  held: string;
  available: string;
}

const accountLink = (id: string) =>
  html`<a class="mono" href="${CONSOLE}/ledger/transfers?account=${encodeURIComponent(id)}">${id}</a>`;
const transferStatus = (s: string) =>
  html`<span class="tag nowrap ${s === 'POSTED' ? 'ok' : s === 'PENDING' ? 'wait' : 'plain'}">${s}</span>`;

/** Transfers as rows (shared with the order pages). */
export const transfersTable = (list: TransferRow[], empty = 'No transfers match.') =>
  table(
    ['Time', 'Kind', 'Amount', 'From (debit)', 'To (credit)', 'Status', 'Ref', 'Id'],
    list.map((t) => [
      time(t.createdAt),
      html`<span class="mono">${t.kind}</span>`,
      html`<span class="nowrap">${displayAmount(t.amount, t.asset)}</span>`,
      accountLink(t.debitAccount),
      accountLink(t.creditAccount),
      transferStatus(t.status),
      t.ref ? html`<span class="mono">${t.ref}</span>` : '—',
      html`<span class="mono small">${t.id}</span>`,
    ]),
    empty,
  );

const option = (value: string, label: string, selected: boolean) =>
  html`<option value="${value}"${selected ? html` selected` : ''}>${label}</option>`;

interface Audit {
  ok: boolean;
  transactions: number;
  accounts: number;
  problems: string[];
  /** The convert book's net position per asset (§15.5): information, not a problem. */
  convertHouse?: { asset: string; net: string }[];
}

function ledgerView(
  audit: Audit | null,
  accounts: AccountRow[],
  f: { ownerType?: string; ownerId?: string; asset?: string; all: boolean },
  next: string | null,
): SafeHtml {
  const params = (extra: Record<string, string>) => {
    const p = new URLSearchParams();
    if (f.ownerType) p.set('ownerType', f.ownerType);
    if (f.ownerId) p.set('ownerId', f.ownerId);
    if (f.asset) p.set('asset', f.asset);
    if (f.all) p.set('all', '1');
    for (const [k, v] of Object.entries(extra)) p.set(k, v);
    return p.toString();
  };
  return html`${card(html`<h1>Ledger</h1>
      <h2>Audit</h2>
      ${
        audit === null
          ? html`<div class="error">The audit could not be read.</div>`
          : audit.ok
            ? html`<p id="audit" class="ok">Balanced: ${audit.transactions} transfers over ${audit.accounts} accounts, every
              account matches its postings, no customer below zero, every asset sums to zero, and the outside systems
              (card charges, hot wallets) reconcile.</p>`
            : html`<p id="audit" class="bad">${audit.problems.length} problem(s) over ${audit.transactions} transfers and
              ${audit.accounts} accounts:</p><ul class="list" id="audit-problems">${audit.problems.map(
                (p) => html`<li class="mono">${p}</li>`,
              )}</ul>`
      }
      ${
        audit?.convertHouse?.length
          ? html`<p id="convert-house">Convert book (may be short): ${audit.convertHouse.map(
              (p, i) => html`${i ? ', ' : ''}<span class="mono">${p.net} ${p.asset}</span>`,
            )}</p>`
          : ''
      }
      <p><a href="${CONSOLE}/ledger/transfers">Browse the transfers</a></p>`)}
    ${card(html`<h2>Balances by account</h2>
      <form method="get" action="${CONSOLE}/ledger" class="filters" id="account-filters">
        <label for="ownerType">Owner type</label><select id="ownerType" name="ownerType">${option(
          '',
          'Any owner',
          !f.ownerType,
        )}${OWNER_TYPES.map((o) => option(o, o, f.ownerType === o))}</select>
        <label for="ownerId">Owner id</label><input id="ownerId" name="ownerId" type="text" maxlength="128"
        value="${f.ownerId ?? ''}">
        <label for="asset">Asset</label><input id="asset" name="asset" type="text" maxlength="16"
        value="${f.asset ?? ''}" placeholder="USDT">
        <label class="choice"><input type="checkbox" name="all" value="1"${f.all ? html` checked` : ''}> Include
        accounts at zero</label>
        <button class="btn secondary" type="submit">Filter</button></form>
      ${table(
        ['Account', 'Owner', 'Asset', 'Posted', 'Held', 'Available'],
        accounts.map((a) => [
          accountLink(a.id),
          html`${a.ownerType} <span class="mono">${a.ownerId}</span>`,
          a.asset,
          displayAmount(a.posted, a.asset),
          displayAmount(a.held, a.asset),
          html`<strong>${displayAmount(a.available, a.asset)}</strong>`,
        ]),
        'No accounts match.',
      )}
      ${next ? html`<p><a id="next-accounts" href="${CONSOLE}/ledger?${params({ after: next })}">More accounts</a></p>` : ''}
      <p class="muted small">Platform accounts standing for money outside the ledger (sandbox mint, inventory, hot
      wallets) may be negative; customer accounts never.</p>`)}`;
}

interface TransferFilters {
  account?: string;
  kind?: string;
  ref?: string;
  status?: string;
  asset?: string;
}

function transfersView(list: TransferRow[], f: TransferFilters, next: string | null, paged: boolean): SafeHtml {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(f)) if (v) p.set(k, v);
  return card(html`<p><a href="${CONSOLE}/ledger">← Ledger</a></p><h1>Ledger transfers</h1>
    <form method="get" action="${CONSOLE}/ledger/transfers" class="filters" id="transfer-filters">
      <label for="account">Account (owner type:owner id:asset)</label><input id="account" name="account" type="text"
      maxlength="200" value="${f.account ?? ''}">
      <label for="kind">Kind</label><input id="kind" name="kind" type="text" maxlength="64" value="${f.kind ?? ''}"
      placeholder="pay.order">
      <label for="ref">Ref (prepayId, order id, …)</label><input id="ref" name="ref" type="text" maxlength="200"
      value="${f.ref ?? ''}">
      <label for="tstatus">Status</label><select id="tstatus" name="status">${option('', 'Any status', !f.status)}${TRANSFER_STATUSES.map(
        (s) => option(s, s, f.status === s),
      )}</select>
      <label for="tasset">Asset</label><input id="tasset" name="asset" type="text" maxlength="16" value="${f.asset ?? ''}">
      <button class="btn secondary" type="submit">Filter</button></form>
    <p class="muted small">Newest first, 50 a page.</p>
    ${transfersTable(list)}
    <div class="actions">${paged ? html`<a class="btn secondary" href="${CONSOLE}/ledger/transfers?${p}">Newest</a>` : ''}${
      next
        ? html`<a class="btn secondary" id="older" href="${CONSOLE}/ledger/transfers?${p}${p.size ? '&' : ''}before=${encodeURIComponent(next)}">Older</a>`
        : ''
    }</div>`);
}

const clean = (v: string | undefined, max = 200) => {
  const s = v?.trim().slice(0, max);
  return s && TEXT.test(s) ? s : undefined;
};

export const ledgerSection: ConsoleSection = (pages) => {
  pages.get('/ledger', async (req, reply, ctx) => {
    const q = req.query as Record<string, string | undefined>;
    const f = {
      ownerType: OWNER_TYPES.includes(q.ownerType as (typeof OWNER_TYPES)[number]) ? q.ownerType : undefined,
      ownerId: clean(q.ownerId, 128),
      asset: clean(q.asset?.toUpperCase(), 16),
      all: q.all === '1',
    };
    const params = new URLSearchParams({ limit: '100' });
    if (f.ownerType) params.set('ownerType', f.ownerType);
    if (f.ownerId) params.set('ownerId', f.ownerId);
    if (f.asset) params.set('asset', f.asset);
    if (!f.all) params.set('nonZero', 'true');
    const after = clean(q.after);
    if (after) params.set('after', after);
    const [audit, accounts] = await Promise.all([
      pages.api(ctx, 'GET', '/admin/v1/ledger/audit'),
      pages.api(ctx, 'GET', `/admin/v1/ledger/accounts?${params}`),
    ]);
    return pages.frame(
      reply,
      'Ledger',
      ledgerView(
        audit.ok ? (audit.body as Audit) : null,
        accounts.ok ? accounts.body.accounts : [],
        f,
        accounts.ok ? accounts.body.next : null,
      ),
      ctx,
    );
  });

  pages.get('/ledger/transfers', async (req, reply, ctx) => {
    const q = req.query as Record<string, string | undefined>;
    const f: TransferFilters = {
      account: clean(q.account),
      kind: clean(q.kind, 64),
      ref: clean(q.ref),
      status: TRANSFER_STATUSES.includes(q.status as (typeof TRANSFER_STATUSES)[number]) ? q.status : undefined,
      asset: clean(q.asset?.toUpperCase(), 16),
    };
    const params = new URLSearchParams({ limit: '50' });
    for (const [k, v] of Object.entries(f)) if (v) params.set(k, v);
    const before = q.before && /^\d{1,16}:[^\s\p{Cc}]{1,200}$/u.test(q.before) ? q.before : undefined;
    if (before) params.set('before', before);
    const res = await pages.api(ctx, 'GET', `/admin/v1/ledger/transfers?${params}`);
    return pages.frame(
      reply,
      'Ledger transfers',
      transfersView(res.ok ? res.body.transfers : [], f, res.ok ? res.body.next : null, !!before),
      ctx,
    );
  });
};
