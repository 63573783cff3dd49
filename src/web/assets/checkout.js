// The hosted checkout (src/pay/checkout): the countdown to expireTime on the server's clock, and a poll of
// /checkout/<token>/status that reloads the page when the order's status changes.
(function () {
  var root = document.querySelector('[data-checkout]');
  if (!root) return;
  var expire = Number(root.getAttribute('data-expire'));
  var skew = Number(root.getAttribute('data-now')) - Date.now();
  var status = root.getAttribute('data-status');
  var el = document.getElementById('countdown');
  function tick() {
    if (!el) return;
    var left = Math.max(0, expire - (Date.now() + skew));
    var m = Math.floor(left / 60000),
      s = Math.floor(left / 1000) % 60;
    el.textContent = (m < 10 ? '0' : '') + m + ':' + (s < 10 ? '0' : '') + s;
    if (left <= 0 && status === 'INITIAL') setTimeout(poll, 1500);
  }
  function poll() {
    fetch(location.pathname.replace(/\/$/, '') + '/status', { cache: 'no-store' })
      .then(function (r) {
        return r.json();
      })
      .then(function (j) {
        if (j.status !== status) location.reload();
      })
      .catch(function () {});
  }
  tick();
  setInterval(tick, 1000);
  if (status === 'INITIAL' || status === 'PENDING') setInterval(poll, 3000);
})();
