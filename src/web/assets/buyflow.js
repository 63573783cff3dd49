// The Connect buy flow's pages (src/connect/buyflow): the code resend countdown, the identity and address uploads
// (posted as JSON with the files in base64), the quote countdown that refreshes the locked price, the 3-D Secure lock
// countdown, and the live status (polls /state, reloads on a change, tells the partner's parent frame).
(function () {
  // An amount at its asset's natural precision, as src/web/amount.ts writes it on the server ("7.25000000", "USDT"
  // → "7.25 USDT"): the quote this page fetches keeps the wire's digits.
  var TWO_DECIMALS = ['USD', 'EUR', 'GBP', 'USDT', 'USDC', 'BUSD', 'FDUSD', 'TUSD', 'DAI'];
  function displayNumber(amount, asset) {
    var m = /^(-?\d+)(?:\.(\d*))?$/.exec(String(amount).trim());
    if (!m) return String(amount);
    var min = TWO_DECIMALS.indexOf(String(asset).toUpperCase()) >= 0 ? 2 : 0;
    var frac = (m[2] || '').replace(/0+$/, '');
    while (frac.length < min) frac += '0';
    return frac ? m[1] + '.' + frac : m[1];
  }
  var BASE = '/en/connect/buyflow';
  var csrf = (document.querySelector('meta[name=csrf]') || {}).content;
  var token = new URLSearchParams(location.search).get('token');
  var rc = document.getElementById('resend');
  if (rc) {
    var left = Number(rc.getAttribute('data-left'));
    var t = function () {
      if (left > 0) {
        rc.disabled = true;
        rc.textContent = 'Resend code (' + left + 's)';
        left--;
        setTimeout(t, 1000);
      } else {
        rc.disabled = false;
        rc.textContent = 'Resend code';
      }
    };
    t();
  }
  var kf = document.getElementById('kyc-form') || document.getElementById('address-form');
  if (kf) {
    kf.addEventListener('submit', function (e) {
      e.preventDefault();
      var fd = new FormData(kf);
      var body = { csrf: csrf, files: {} };
      var jobs = [];
      fd.forEach(function (v, k) {
        if (typeof v === 'string') {
          body[k] = v;
        } else if (v && v.size) {
          jobs.push(
            new Promise(function (res) {
              var r = new FileReader();
              r.onload = function () {
                body.files[k] = String(r.result).split(',')[1];
                res();
              };
              r.readAsDataURL(v);
            }),
          );
        }
      });
      Promise.all(jobs)
        .then(function () {
          return fetch(BASE + '/' + (kf.getAttribute('data-action') || 'kyc') + '?token=' + token, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(body),
          });
        })
        .then(function (r) {
          return r.json();
        })
        .then(function (j) {
          if (j.ok || j.code === 'REGION_RESTRICTED') {
            location.href = BASE + '?token=' + token;
          } else {
            var el = document.getElementById('kyc-error');
            el.textContent = j.message;
            el.hidden = false;
          }
        });
    });
  }
  var cd = document.getElementById('countdown');
  if (cd) {
    var exp = Number(cd.getAttribute('data-expires'));
    var skew = Number(cd.getAttribute('data-now')) - Date.now();
    var btn = document.getElementById('confirm-btn');
    var tick = function () {
      var l = Math.max(0, Math.ceil((exp - (Date.now() + skew)) / 1000));
      btn.textContent = 'Confirm (' + l + 's)';
      if (l <= 0) {
        fetch(BASE + '/quote?token=' + token, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ csrf: csrf }),
        })
          .then(function (r) {
            return r.json();
          })
          .then(function (q) {
            ['cryptoAmount', 'quotePrice', 'userFee', 'networkFee'].forEach(function (k) {
              var el = document.getElementById('q-' + k);
              var shown = el && displayNumber(q[k], el.getAttribute('data-asset') || '');
              if (el && el.textContent !== shown) {
                el.textContent = shown;
                el.className = 'changed';
                el.style.background = '#fff3bf';
              }
            });
            exp = q.expiresAt;
            skew = q.now - Date.now();
            setTimeout(tick, 1000);
          });
      } else setTimeout(tick, 1000);
    };
    tick();
  }
  var cl = document.getElementById('challenge-left');
  if (cl) {
    var ce = Number(cl.getAttribute('data-expires'));
    var cs = Number(cl.getAttribute('data-now')) - Date.now();
    var ct = function () {
      var l = Math.max(0, Math.ceil((ce - (Date.now() + cs)) / 1000));
      if (l > 0) {
        cl.textContent = l + ' s';
        setTimeout(ct, 1000);
      } else {
        var p = document.getElementById('challenge-lock');
        p.textContent = p.getAttribute('data-expired');
      }
    };
    ct();
  }
  var st = document.querySelector('[data-live]');
  if (st) {
    var sub = st.getAttribute('data-sub');
    var origins = (st.getAttribute('data-origins') || '').split(' ').filter(Boolean);
    var post = function (m) {
      if (window.parent !== window)
        origins.forEach(function (o) {
          try {
            window.parent.postMessage(m, o);
          } catch {
            /* the parent is not on this origin */
          }
        });
    };
    post({
      source: 'rampart-connect',
      type: 'ORDER_STATUS',
      merchantOrderId: st.getAttribute('data-moid'),
      orderId: st.getAttribute('data-oid'),
      orderMainStatus: st.getAttribute('data-main'),
      orderSubStatus: sub,
    });
    var done = document.getElementById('done');
    if (done)
      done.addEventListener('click', function () {
        post({ source: 'rampart-connect', type: 'CLOSE' });
      });
    setInterval(function () {
      fetch(BASE + '/state?token=' + token, { cache: 'no-store' })
        .then(function (r) {
          return r.json();
        })
        .then(function (j) {
          if (j.key !== st.getAttribute('data-key')) location.reload();
        });
    }, 1500);
  }
})();
