// Keyboard-friendly tables: j/k or arrows move between rows, Enter opens the focused row.
(function () {
  function rows() { return Array.from(document.querySelectorAll('table.table-ims tbody tr[data-href]')); }
  document.addEventListener('keydown', function (e) {
    if (['INPUT', 'SELECT', 'TEXTAREA'].includes(document.activeElement.tagName)) return;
    const list = rows(); if (!list.length) return;
    let i = list.indexOf(document.activeElement);
    if (e.key === 'j' || e.key === 'ArrowDown') { i = Math.min(i + 1, list.length - 1); list[i].focus(); e.preventDefault(); }
    else if (e.key === 'k' || e.key === 'ArrowUp') { i = Math.max(i - 1, 0); list[i].focus(); e.preventDefault(); }
    else if (e.key === 'Enter' && i >= 0) { window.location = list[i].dataset.href; }
  });
  document.addEventListener('click', function (e) {
    const tr = e.target.closest('tr[data-href]');
    if (tr && !e.target.closest('a, button, input, label')) window.location = tr.dataset.href;
  });
})();
