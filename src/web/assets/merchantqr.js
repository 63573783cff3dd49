// The merchant QR code's waiting page (/qr/{code}/scans/{referId}, src/pay/merchantqr/routes.ts): polls the scan's
// status until the merchant has created the order, then opens its checkout; an expired scan reloads the page, which
// says so.
(() => {
  const el = document.getElementById('waiting');
  if (!el) return;
  const url = el.getAttribute('data-status-url');
  const tick = async () => {
    try {
      const r = await fetch(url, { cache: 'no-store' });
      if (r.ok) {
        const s = await r.json();
        if (s.state === 'ORDER' && s.checkoutUrl) return void location.assign(s.checkoutUrl);
        if (s.state === 'EXPIRED') return void location.reload();
      }
    } catch {
      // a network hiccup: asked again below
    }
    setTimeout(tick, 2000);
  };
  setTimeout(tick, 2000);
})();
