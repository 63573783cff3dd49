// The Connect buy flow's automatic return (binance-connect-v2.md §7 AUTO_REDIRECTION): on a final status the page
// sends the person to the partner's return address at once. The "Back to" button it follows stays on the page as the
// fallback (a deep link the device cannot open leaves the person here).
(function () {
  var a = document.querySelector('a[data-auto-return]');
  if (a && a.href) location.replace(a.href);
})();
