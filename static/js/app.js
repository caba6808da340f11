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

// Dashboard: ITC by action per supplier period (Chart.js, served locally). Data comes from a json_script tag.
document.addEventListener('DOMContentLoaded', function () {  // after the page's own scripts (Chart.js) ran
  const data = document.getElementById('itc-trend-data');
  const canvas = document.getElementById('itc-trend');
  if (!data || !canvas || typeof Chart === 'undefined') return;
  const chart = JSON.parse(data.textContent);
  const colours = { A: '#198754', N: '#6c757d', R: '#dc3545', P: '#fd7e14' };
  const inr = new Intl.NumberFormat('en-IN', { style: 'currency', currency: 'INR', maximumFractionDigits: 0 });
  new Chart(canvas, {
    type: 'bar',
    data: {
      labels: chart.labels,
      datasets: chart.series.map(function (s) {
        return { label: s.label, data: s.data.map(Number), backgroundColor: colours[s.action], stack: 'itc' };
      }),
    },
    options: {
      maintainAspectRatio: false,
      animation: false,
      scales: { x: { stacked: true }, y: { stacked: true, ticks: { callback: function (v) { return inr.format(v); } } } },
      plugins: { tooltip: { callbacks: { label: function (c) { return c.dataset.label + ': ' + inr.format(c.parsed.y); } } } },
    },
  });
});

// The dashboard's ITC available vs at risk per supplier period (data in #itc-risk-data, written by the view).
document.addEventListener('DOMContentLoaded', function () {
  const data = document.getElementById('itc-risk-data');
  const canvas = document.getElementById('itc-risk');
  if (!data || !canvas || typeof Chart === 'undefined') return;
  const chart = JSON.parse(data.textContent);
  const colours = { available: '#198754', at_risk: '#fd7e14' };
  const inr = new Intl.NumberFormat('en-IN', { style: 'currency', currency: 'INR', maximumFractionDigits: 0 });
  new Chart(canvas, {
    type: 'line',
    data: {
      labels: chart.labels,
      datasets: chart.series.map(function (s) {
        return { label: s.label, data: s.data.map(Number), borderColor: colours[s.key], backgroundColor: colours[s.key], tension: 0.2 };
      }),
    },
    options: {
      maintainAspectRatio: false,
      animation: false,
      scales: { y: { ticks: { callback: function (v) { return inr.format(v); } } } },
      plugins: { tooltip: { callbacks: { label: function (c) { return c.dataset.label + ': ' + inr.format(c.parsed.y); } } } },
    },
  });
});

// No inline script or event handler anywhere (the Content-Security-Policy allows script files from this site only):
// pages ask for behaviour with data attributes instead.
// data-confirm on a form or its submit button: the question asked before the form is sent.
document.addEventListener('submit', function (e) {
  const question = (e.submitter && e.submitter.dataset.confirm) || e.target.dataset.confirm;
  if (question && !window.confirm(question)) e.preventDefault();
});
// data-autosubmit on a field: changing it sends its form (filters that apply at once).
document.addEventListener('change', function (e) {
  if (e.target.matches('[data-autosubmit]') && e.target.form) e.target.form.submit();
});

// Register column mapping: the first rows of the column chosen for a field, as soon as it is chosen (read from the
// file's preview table above the form).
document.addEventListener('change', function (e) {
  const select = e.target.closest('#column-mapping select[id^="map-"]');
  const preview = document.getElementById('file-preview');
  if (!select || !preview) return;
  const cell = select.closest('tr').querySelector('td.samples');
  const heads = Array.from(preview.querySelectorAll('thead th')).map(function (th) { return th.textContent; });
  const i = heads.indexOf(select.value);
  const values = i < 0 ? [] : Array.from(preview.querySelectorAll('tbody tr'))
    .map(function (tr) { return tr.children[i].textContent; });
  cell.textContent = values.join(' · ');
  if (i >= 0 && !values.join('').trim()) {
    const empty = document.createElement('span');
    empty.className = 'fst-italic';
    empty.textContent = 'empty in the first rows';
    cell.replaceChildren(empty);
  }
});
