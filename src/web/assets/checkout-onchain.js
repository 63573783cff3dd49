// Paying a hosted checkout from another wallet (src/pay/checkout, /checkout/<token>/onchain): the countdown to
// expireTime on the server's clock, the copy buttons, and a poll of the payment's status that updates the page in
// place (transfers seen, confirmations counting up, paid) without reloading it.
(function () {
  var root = document.querySelector('[data-onchain]');
  if (!root) return;
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
  var expire = Number(root.getAttribute('data-expire'));
  var skew = Number(root.getAttribute('data-now')) - Date.now();
  var countdown = document.getElementById('countdown');
  function tick() {
    if (!countdown) return;
    var left = Math.max(0, expire - (Date.now() + skew));
    var m = Math.floor(left / 60000),
      s = Math.floor(left / 1000) % 60;
    countdown.textContent = (m < 10 ? '0' : '') + m + ':' + (s < 10 ? '0' : '') + s;
  }
  tick();
  setInterval(tick, 1000);

  Array.prototype.forEach.call(document.querySelectorAll('[data-copy]'), function (b) {
    b.addEventListener('click', function () {
      var label = b.textContent;
      var done = function () {
        b.textContent = 'Copied';
        setTimeout(function () {
          b.textContent = label;
        }, 1500);
      };
      // Without a clipboard (a page not served over https) the text is selected for the person to copy.
      var select = function () {
        var target = document.getElementById(b.getAttribute('data-select'));
        if (!target) return;
        var range = document.createRange();
        range.selectNodeContents(target);
        window.getSelection().removeAllRanges();
        window.getSelection().addRange(range);
      };
      var clip = window.navigator.clipboard;
      if (clip) clip.writeText(b.getAttribute('data-copy')).then(done, select);
      else select();
    });
  });

  var url = root.getAttribute('data-status-url');
  if (!url) return;
  // What no longer applies is removed (never to come back: a payment that left AWAITING stays where it is).
  function drop(id) {
    var e = document.getElementById(id);
    if (e) e.remove();
  }
  function text(id, value) {
    var e = document.getElementById(id);
    if (e) e.textContent = value;
  }
  function transferLine(t) {
    var li = document.createElement('li');
    li.className = 'row';
    var a = document.createElement('span');
    a.textContent = displayAmount(t.amount, t.asset);
    var b = document.createElement('span');
    b.className = 'muted';
    b.textContent =
      t.status === 'credited'
        ? 'confirmed'
        : t.status === 'orphaned'
          ? 'dropped by a reorganisation, waiting'
          : Math.min(t.confirmations, t.confirmationsRequired) + '/' + t.confirmationsRequired + ' confirmations';
    li.appendChild(a);
    li.appendChild(b);
    return li;
  }
  var timer;
  function apply(s) {
    var status = document.getElementById('onchain-status');
    if (status) {
      status.textContent = s.message;
      status.className = 'status ' + s.tone;
    }
    text('received', displayAmount(s.received, s.asset));
    text('remaining', displayAmount(s.remaining, s.asset));
    var waiting = s.intentStatus === 'AWAITING' && s.orderStatus === 'INITIAL';
    if (!waiting) ['expires', 'remaining-row', 'pay-details', 'change', 'back'].forEach(drop);
    // Once a transfer has arrived the choice is fixed.
    if (s.transfers.length > 0) drop('change');
    if (s.tone === 'ok' && status && !document.getElementById('return')) {
      var back = document.createElement('a');
      back.className = 'btn';
      back.id = 'return';
      back.href = s.returnUrl || location.pathname.replace(/\/onchain\/?$/, '');
      back.textContent = s.returnUrl ? 'Return to merchant' : 'Back to the order';
      status.parentNode.appendChild(back);
    }
    var list = document.getElementById('transfers');
    if (list) {
      list.textContent = '';
      s.transfers.forEach(function (t) {
        list.appendChild(transferLine(t));
      });
    }
    root.setAttribute('data-state', s.intentStatus);
    if (
      !waiting &&
      s.transfers.every(function (t) {
        return t.status === 'credited';
      })
    )
      clearInterval(timer);
  }
  function poll() {
    fetch(url, { cache: 'no-store' })
      .then(function (r) {
        return r.ok ? r.json() : null;
      })
      .then(function (s) {
        if (s) apply(s);
      })
      .catch(function () {});
  }
  timer = setInterval(poll, 2000);
})();
