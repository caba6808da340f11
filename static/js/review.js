// The review desk (document list and document page). Loaded as a file: the pages carry no inline script.
(function () {
  'use strict';

  function typing() {
    const el = document.activeElement;
    return el && (['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName) || el.isContentEditable);
  }

  // Document page: previous / next within the list it was opened from (j or →: next, k or ←: previous).
  document.addEventListener('keydown', function (e) {
    if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey || typing()) return;
    let link = null;
    if (e.key === 'j' || e.key === 'ArrowRight') link = document.getElementById('next-doc');
    else if (e.key === 'k' || e.key === 'ArrowLeft') link = document.getElementById('prev-doc');
    if (link) { e.preventDefault(); window.location = link.href; }
  });

  // Show a form's fields only where they apply: [data-applies-to="A R P"] with the chosen action, and
  // [data-declaration="partial"] with a partial ITC reduction. Hidden fields are disabled, so they are not sent.
  function show(el, visible) {
    el.hidden = !visible;
    el.querySelectorAll('input, select, textarea').forEach(function (input) { input.disabled = !visible; });
  }

  function refresh(form) {
    const action = form.querySelector('select[name=action]');
    const declaration = form.querySelector('select[name=declaration]');
    const needs = form.dataset.needsDeclaration ? form.dataset.needsDeclaration === 'yes' : true;
    form.querySelectorAll('[data-applies-to]').forEach(function (el) {
      let visible = el.dataset.appliesTo.split(' ').includes(action ? action.value : '');
      if (visible && el.hasAttribute('data-needs-selection')) visible = needs;
      if (visible && el.dataset.declaration) visible = !!declaration && declaration.value === el.dataset.declaration;
      show(el, visible);
    });
  }

  // The bulk bar: the declaration is asked only when the selection may hold a credit note or a downward
  // amendment (the sections in data-specified-sections) or is "all matching the filter".
  function selectionNeedsDeclaration(form) {
    const all = form.querySelector('input[name=all_matching]');
    if (all && all.checked) return true;
    const sections = (form.dataset.specifiedSections || '').split(' ');
    return Array.from(document.querySelectorAll('input[name=ids][form=' + form.id + ']:checked')).some(function (box) {
      const row = box.closest('tr');
      return row && sections.includes(row.dataset.section);
    });
  }

  function refreshBulk(form) {
    form.dataset.needsDeclaration = selectionNeedsDeclaration(form) ? 'yes' : 'no';
    refresh(form);
  }

  document.addEventListener('DOMContentLoaded', function () {
    document.querySelectorAll('form[data-action-form]').forEach(function (form) {
      form.addEventListener('change', function () { refresh(form); });
      refresh(form);
    });

    const bulk = document.getElementById('bulk-action-form');
    if (bulk) {
      document.addEventListener('change', function (e) {
        if (e.target.matches('input[name=ids], #select-page') || bulk.contains(e.target)) refreshBulk(bulk);
      });
      refreshBulk(bulk);
    }

    // "Select this page" ticks the row checkboxes.
    const pageBox = document.getElementById('select-page');
    if (pageBox) {
      pageBox.addEventListener('change', function () {
        document.querySelectorAll('input[name=ids][form=bulk-action-form]').forEach(function (box) { box.checked = pageBox.checked; });
        if (bulk) refreshBulk(bulk);
      });
    }

    // The list's sort and page size apply as soon as they change (from the first page).
    const filters = document.getElementById('document-filters');
    if (filters) {
      filters.querySelectorAll('select[name=sort], select[name=per_page]').forEach(function (select) {
        select.addEventListener('change', function () { filters.requestSubmit(); });
      });
    }
  });
})();
