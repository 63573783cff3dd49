// The wallet pages (src/wallet): the copy button, and a poll of /wallet/live.json that redraws balances and deposits
// (confirmations counting up, pending → credited) without a reload. A withdrawal page on its way reloads when its
// state changes. The markup mirrors src/wallet/views.ts.
(function () {
  // An amount at its asset's natural precision, as src/web/amount.ts writes it on the server ("7.25000000", "USDT"
  // → "7.25 USDT"): the JSON this page polls keeps the wire's digits.
  var TWO_DECIMALS = ['USD', 'EUR', 'GBP', 'USDT', 'USDC', 'BUSD', 'FDUSD', 'TUSD', 'DAI'];
  function displayNumber(amount, asset) {
    var m = /^(-?\d+)(?:\.(\d*))?$/.exec(String(amount).trim());
    if (!m) return String(amount);
    var min = TWO_DECIMALS.indexOf(String(asset).toUpperCase()) >= 0 ? 2 : 0;
    var frac = (m[2] || '').replace(/0+$/, '');
    while (frac.length < min) frac += '0';
    return frac ? m[1] + '.' + frac : m[1];
  }
  function displayAmount(amount, asset) {
    return displayNumber(amount, asset) + ' ' + asset;
  }
  var copy = document.getElementById('copy');
  if (copy) {
    copy.addEventListener('click', function () {
      var text = copy.getAttribute('data-copy') || '';
      var note = document.getElementById('copied');
      var say = function (msg) {
        if (note) note.textContent = msg;
      };
      // Without the clipboard API (or its permission) the address is selected for the person to copy.
      var selectIt = function () {
        var field = document.getElementById('address');
        if (!field) return;
        var range = document.createRange();
        range.selectNodeContents(field);
        var sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        say('Address selected: copy it from the menu.');
      };
      var clip = window.navigator.clipboard;
      if (clip && clip.writeText) {
        clip.writeText(text).then(function () {
          say('Address copied.');
        }, selectIt);
      } else selectIt();
    });
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function short(s) {
    return s.length > 18 ? s.slice(0, 10) + '…' + s.slice(-6) : s;
  }
  function depositState(d) {
    if (d.status === 'credited') return { text: 'Credited', cls: 'ok' };
    if (d.status === 'orphaned') return { text: 'Dropped by a chain reorganisation', cls: 'bad' };
    var seen = Math.min(d.confirmations, d.confirmationsRequired);
    return { text: 'Pending · ' + seen + '/' + d.confirmationsRequired + ' confirmations', cls: 'wait' };
  }
  function balanceRow(b) {
    var row = el('div', 'row');
    row.setAttribute('data-balance', b.asset);
    var left = el('span');
    left.appendChild(el('strong', '', b.asset));
    var right = el('span');
    var avail = el('strong', '', displayNumber(b.available, b.asset));
    avail.setAttribute('data-field', 'available');
    right.appendChild(avail);
    if (b.held !== '0') {
      right.appendChild(document.createElement('br'));
      var held = el('span', 'muted', displayNumber(b.held, b.asset) + ' on hold');
      held.setAttribute('data-field', 'held');
      right.appendChild(held);
    }
    row.appendChild(left);
    row.appendChild(right);
    return row;
  }
  function depositRow(d) {
    var row = el('div', 'row');
    row.setAttribute('data-deposit', d.id);
    var left = el('span');
    left.appendChild(el('strong', '', '+' + displayAmount(d.amount, d.asset)));
    left.appendChild(document.createElement('br'));
    left.appendChild(el('span', 'muted', d.network + ' · ' + short(d.txHash)));
    var st = depositState(d);
    var right = el('span');
    var badge = el('span', 'status ' + st.cls, st.text);
    badge.setAttribute('style', 'display:inline-block;padding:2px 8px;font-size:13px');
    badge.setAttribute('data-field', 'state');
    right.appendChild(badge);
    row.appendChild(left);
    row.appendChild(right);
    return row;
  }
  function redraw(box, items, draw, emptyId, emptyText) {
    if (!box) return;
    var key = JSON.stringify(items);
    if (box.getAttribute('data-drawn') === key) return;
    box.setAttribute('data-drawn', key);
    while (box.firstChild) box.removeChild(box.firstChild);
    if (items.length === 0) {
      var p = el('p', 'muted', emptyText);
      p.id = emptyId;
      box.appendChild(p);
      return;
    }
    items.forEach(function (i) {
      box.appendChild(draw(i));
    });
  }

  var root = document.querySelector('[data-wallet]');
  var withdrawal = document.querySelector('[data-withdrawal-page]');
  if (!root && !withdrawal) return;
  var network = root && root.getAttribute('data-network');
  var asset = root && root.getAttribute('data-asset');

  function apply(j) {
    if (root) {
      var balances = asset
        ? j.balances.filter(function (b) {
            return b.asset === asset;
          })
        : j.balances;
      var deposits = network
        ? j.deposits.filter(function (d) {
            return d.network === network && d.asset === asset;
          })
        : j.deposits;
      redraw(
        document.getElementById('balances'),
        balances,
        balanceRow,
        'no-balance',
        'No funds yet. Deposit to get started.',
      );
      redraw(
        document.getElementById('deposits'),
        deposits,
        depositRow,
        'no-deposits',
        'No deposits yet. A transfer to your address shows here as soon as it is in a block, and is credited after ' +
          'its confirmations.',
      );
      j.withdrawals.forEach(function (w) {
        var badge = document.querySelector('[data-withdrawal="' + w.id + '"] [data-field="state"]');
        if (badge && badge.textContent !== w.state.text) {
          badge.textContent = w.state.text;
          badge.className = 'status ' + w.state.cls;
        }
      });
    }
    if (withdrawal) {
      var id = location.pathname.split('/').pop();
      var shown = document.getElementById('state');
      j.withdrawals.forEach(function (w) {
        if (w.id === id && shown && shown.textContent !== w.state.text) location.reload();
      });
    }
  }

  function poll() {
    fetch('/wallet/live.json', { cache: 'no-store', credentials: 'same-origin' })
      .then(function (r) {
        return r.ok ? r.json() : null;
      })
      .then(function (j) {
        if (j) apply(j);
      })
      .catch(function () {});
  }
  setInterval(poll, 2000);
  poll();
})();
