import type { SubMerchant } from '../pay/submerchants/service.ts';
import { html, type SafeHtml } from '../web/html.ts';
import { BASE, card, flashBox, hidden, type ViewCtx } from './views.ts';

export type SubMerchantFields = Partial<Record<string, string>>;

/** The MCC codes of binance-pay-extended.md §12.6 (the list is from an SDK citing Binance's table). */
const MCC: [string, string][] = [
  ['1001', 'Accommodation & food services'],
  ['1002', 'Administrative, support, waste management'],
  ['1004', 'Agriculture, forestry, fishing, hunting'],
  ['1005', 'Arts, entertainment, recreation'],
  ['1006', 'Construction'],
  ['1022', 'Educational services'],
  ['1025', 'Health care & social assistance'],
  ['1026', 'Information'],
  ['1027', 'General wholesalers'],
  ['1031', 'General manufacturing'],
  ['1035', 'Professional services'],
  ['1036', 'Scientific & technical services'],
  ['1038', 'Real estate, rental, leasing'],
  ['1039', 'Retail: electronics'],
  ['1040', 'Retail: food & beverage'],
  ['1041', 'Retail: jewelry'],
  ['1042', 'Retail: other'],
  ['1045', 'Transportation & warehousing'],
  ['1047', 'Other crypto/web3 services (non-VASP)'],
  ['9999', 'Other (describe the industry)'],
];

const STORE_TYPE: Record<string, string> = { '0': 'Online', '1': 'Physical store', '-1': 'Online and physical' };

/** The partner's sub-merchants, with add, edit and disable. */
export function subMerchantsView(
  ctx: ViewCtx,
  list: SubMerchant[],
  opts: { partner: boolean; ok?: string; error?: string },
) {
  if (!opts.partner)
    return card(html`<h1>Sub-merchants</h1><div class="error" id="flash">Sub-merchants are for channel partners: a
      partner registers each business it serves and tags their orders with it. Ask the operator to enable the
      channel-partner feature for your account.</div>`);
  return html`${flashBox(opts)}
    ${card(html`<h1>Sub-merchants</h1>
      <p class="muted">Each business you serve, with the id you put in <span \
class="mono">merchant.subMerchantId</span> on its
        orders. Their payments settle to your funding wallet; the checkout shows their name and logo.</p>
      <a class="btn" id="add" href="${BASE}/sub-merchants/new">Add a sub-merchant</a>`)}
    ${card(
      html`${
        list.length === 0
          ? html`<p class="muted" id="no-sub-merchants">No sub-merchants yet. As a channel partner, every order needs \
one: add the first, your own business included.</p>`
          : html`<ul class="list" id="sub-merchants">${list.map(
              (s) => html`<li><div class="row">
                <a href="${BASE}/sub-merchants/${s.subMerchantId}">${s.profile.merchantName}</a>
              <span class="${s.status === 'ACTIVE' ? 'ok' : 'bad'}">${s.status}</span></div>
              <div class="row small muted">
              <span class="mono">ID ${s.subMerchantId}</span><span>${STORE_TYPE[s.profile.storeType] ?? ''} · MCC \
${s.profile.merchantMcc}</span></div>
              ${
                s.status === 'ACTIVE'
                  ? html`<form class="inline" method="post"
                    action="${BASE}/sub-merchants/${s.subMerchantId}/disable">${hidden(ctx.csrf)}
                      <button class="btn secondary" type="submit">Disable</button></form>`
                  : html`<div class="small muted">Disabled: ask the operator to enable it again.</div>`
              }</li>`,
            )}</ul>`
      }`,
    )}`;
}

function field(name: string, label: string, fields: SubMerchantFields, opts: { type?: string; hint?: string } = {}) {
  return html`<label for="${name}">${label}</label>${opts.hint ? html`<div class="small muted">${opts.hint}</div>` : ''}
    <input id="${name}" name="${name}" type="${opts.type ?? 'text'}" value="${fields[name] ?? ''}">`;
}
function select(name: string, label: string, fields: SubMerchantFields, options: [string, string][]): SafeHtml {
  return html`<label for="${name}">${label}</label><select id="${name}" name="${name}">
    ${options.map(
      ([v, l]) => html`<option \
value="${v}"${fields[name] === v ? html` selected` : ''}>${l}</option>`,
    )}</select>`;
}

/** Add or edit: the §12.1 fields, grouped; which ones are needed depends on the store and merchant type. */
export function subMerchantFormView(
  ctx: ViewCtx,
  fields: SubMerchantFields,
  existing: SubMerchant | null,
  error?: string,
) {
  const action = existing ? `${BASE}/sub-merchants/${existing.subMerchantId}` : `${BASE}/sub-merchants`;
  return html`${flashBox({ error })}${card(html`<h1>${
    existing ? html`Edit ${existing.profile.merchantName}` : 'Add a sub-merchant'
  }</h1>
    ${existing ? html`<p class="muted mono">Sub-merchant ID ${existing.subMerchantId}</p>` : ''}
    <form method="post" action="${action}" id="sub-merchant-form">${hidden(ctx.csrf)}
      ${field('merchantName', 'Business name', fields)}
      <div class="grid2"><div>${select('storeType', 'Where it sells', fields, Object.entries(STORE_TYPE))}</div>
      <div>${select(
        'merchantMcc',
        'Industry (MCC)',
        fields,
        MCC.map(([c, l]) => [c, `${c} ${l}`]),
      )}</div></div>
      ${field('siteUrl', 'Website or app store URL', fields, { hint: 'Needed when it sells online.' })}
      ${field('address', 'Store address', fields, { hint: 'Needed for a physical store.' })}
      ${field('payIndustryDescription', 'Industry description', fields, { hint: 'Needed for MCC 9999.' })}
      ${field('country', 'Countries of operation', fields, {
        hint: 'ISO codes separated by commas, or GO for global.',
      })}
      ${field('brandLogo', 'Logo URL (https)', fields)}
      ${select('merchantType', 'Legal form', fields, [
        ['', 'Not given'],
        ['1', 'Individual'],
        ['2', 'Sole proprietor'],
        ['3', 'Partnership'],
        ['4', 'Private company'],
        ['5', 'Other company'],
      ])}
      <h2>Company (for a sole proprietor, partnership or company)</h2>
      ${field('companyName', 'Company name', fields)}${field('registrationNumber', 'Registration number', fields)}
      <div class="grid2"><div>${field('registrationCountry', 'Registration country', fields)}</div>
      <div>${field('incorporationDate', 'Incorporation date', fields, { type: 'date' })}</div></div>
      ${field('registrationAddress', 'Registered address', fields)}
      <h2>Identity document (for an individual)</h2>
      ${select('certificateType', 'Document', fields, [
        ['', 'Not given'],
        ['1', 'ID card'],
        ['2', 'Passport'],
      ])}
      <div class="grid2"><div>${field('certificateCountry', 'Issuing country', fields)}</div>
      <div>${field('certificateValidDate', 'Valid until', fields, { type: 'date' })}</div></div>
      ${field('certificateNumber', 'Document number', fields)}
      <h2>Payers</h2>
      ${field('blockPayerKycCountries', 'Refuse payers from these countries', fields, {
        hint: 'ISO codes separated by commas.',
      })}
      ${field('contractTimeIsv', 'Contract date with this business', fields, { type: 'date' })}
      <button class="btn" type="submit">${existing ? 'Save' : 'Add sub-merchant'}</button>
      <a class="btn secondary" href="${BASE}/sub-merchants">Cancel</a></form>`)}`;
}
