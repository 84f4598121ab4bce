// openrouter-proxy dashboard behaviour. Loaded with defer under a CSP of
// script-src 'self': no eval, no inline handlers, only event listeners.
(function () {
  'use strict';

  var PAUSE_KEY = 'orp.pauseLive';

  function pauseToggle() {
    return document.getElementById('pause-live');
  }

  function isPaused() {
    var t = pauseToggle();
    return !!(t && t.checked);
  }

  function storeGet(key) {
    try { return window.localStorage.getItem(key); } catch (e) { return null; }
  }

  function storeSet(key, value) {
    try { window.localStorage.setItem(key, value); } catch (e) { /* private mode */ }
  }

  // selectionInside reports whether the user is selecting text inside el, so
  // that a poll does not yank the selection away while they copy an id.
  function selectionInside(el) {
    var sel = window.getSelection && window.getSelection();
    if (!sel || sel.isCollapsed || sel.rangeCount === 0) return false;
    return el.contains(sel.getRangeAt(0).commonAncestorContainer);
  }

  // (a) Live polling. htmx polls every element with data-poll; skip a poll
  // while the tab is hidden, the user paused, or text is being selected.
  document.addEventListener('htmx:beforeRequest', function (evt) {
    var elt = evt.detail && evt.detail.elt;
    if (!elt || !elt.hasAttribute || !elt.hasAttribute('data-poll')) return;
    if (document.visibilityState !== 'visible' || isPaused() || selectionInside(elt)) {
      evt.preventDefault();
    }
  });

  // pollNow refreshes every polled element at once, e.g. after un-pausing,
  // instead of waiting up to one interval.
  function pollNow() {
    if (!window.htmx || document.visibilityState !== 'visible' || isPaused()) return;
    var els = document.querySelectorAll('[data-poll][hx-get]');
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      window.htmx.ajax('GET', el.getAttribute('hx-get'), { source: el, target: el, swap: 'outerHTML' });
    }
  }

  function syncPauseLabel() {
    var t = pauseToggle();
    if (!t) return;
    var wrap = t.closest('.live-toggle');
    if (wrap) wrap.classList.toggle('is-paused', t.checked);
  }

  function initPause() {
    var t = pauseToggle();
    if (!t || t.dataset.bound) return;
    t.dataset.bound = '1';
    t.checked = storeGet(PAUSE_KEY) === '1';
    syncPauseLabel();
    t.addEventListener('change', function () {
      storeSet(PAUSE_KEY, t.checked ? '1' : '0');
      syncPauseLabel();
      if (!t.checked) pollNow();
    });
  }

  document.addEventListener('visibilitychange', function () {
    if (document.visibilityState === 'visible') pollNow();
  });

  // Rows that a poll brings in for the first time get a brief highlight.
  var seenIDs = null;
  document.addEventListener('htmx:beforeSwap', function (evt) {
    var d = evt.detail || {};
    var src = d.requestConfig && d.requestConfig.elt;
    seenIDs = null;
    if (!src || !src.hasAttribute || !src.hasAttribute('data-poll')) return;
    seenIDs = {};
    var rows = src.querySelectorAll('[data-id]');
    for (var i = 0; i < rows.length; i++) seenIDs[rows[i].getAttribute('data-id')] = true;
  });

  function markNewRows(root) {
    if (!seenIDs || !root.querySelectorAll) return;
    var rows = root.querySelectorAll('[data-id]');
    if (rows.length === 0) return; // e.g. an out-of-band stats swap
    for (var i = 0; i < rows.length; i++) {
      if (!seenIDs[rows[i].getAttribute('data-id')]) rows[i].classList.add('is-new');
    }
    seenIDs = null;
  }

  // (b) Pretty/raw toggles: a button with data-toggle="<id>" shows that
  // element and hides the ones named by the other buttons of its group.
  document.addEventListener('click', function (evt) {
    var btn = evt.target.closest && evt.target.closest('[data-toggle]');
    if (!btn) return;
    var group = btn.closest('[data-toggle-group]') || btn.parentNode;
    var buttons = group.querySelectorAll('[data-toggle]');
    for (var i = 0; i < buttons.length; i++) {
      var b = buttons[i];
      var on = b === btn;
      var target = document.getElementById(b.getAttribute('data-toggle'));
      if (target) target.hidden = !on;
      b.setAttribute('aria-pressed', on ? 'true' : 'false');
    }
  });

  // (c) Copy buttons: data-copy="<id>" copies that element's text.
  function fallbackCopy(text) {
    var ta = document.createElement('textarea');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.className = 'copy-buffer';
    document.body.appendChild(ta);
    ta.select();
    var ok = false;
    try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
    document.body.removeChild(ta);
    return ok ? Promise.resolve() : Promise.reject(new Error('copy failed'));
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return fallbackCopy(text); });
    }
    return fallbackCopy(text);
  }

  document.addEventListener('click', function (evt) {
    var btn = evt.target.closest && evt.target.closest('[data-copy]');
    if (!btn) return;
    var src = document.getElementById(btn.getAttribute('data-copy'));
    if (!src) return;
    var label = btn.querySelector('.btn-label') || btn;
    if (!btn.dataset.label) btn.dataset.label = label.textContent;
    copyText(src.textContent).then(function () {
      label.textContent = 'Copied';
      btn.classList.add('is-done');
    }, function () {
      label.textContent = 'Copy failed';
    }).then(function () {
      window.clearTimeout(btn._copyTimer);
      btn._copyTimer = window.setTimeout(function () {
        label.textContent = btn.dataset.label;
        btn.classList.remove('is-done');
      }, 1500);
    });
  });

  // (d) Local time: <time datetime="RFC3339"> shows the browser's local time;
  // the server's UTC text stays as the tooltip and as the no-JS fallback.
  var pad = function (n) { return (n < 10 ? '0' : '') + n; };
  var MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

  function formatLocal(d, long) {
    var now = new Date();
    var hms = pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
    var sameDay = d.getFullYear() === now.getFullYear() && d.getMonth() === now.getMonth() && d.getDate() === now.getDate();
    var date = MONTHS[d.getMonth()] + ' ' + d.getDate();
    if (long) {
      var ms = ('00' + d.getMilliseconds()).slice(-3);
      var tz = '';
      try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch (e) { tz = ''; }
      return date + ', ' + d.getFullYear() + ' ' + hms + '.' + ms + (tz ? ' ' + tz : '');
    }
    if (sameDay) return hms;
    if (d.getFullYear() !== now.getFullYear()) date += ', ' + d.getFullYear();
    return date + ' ' + hms;
  }

  function localizeTimes(root) {
    if (!root || !root.querySelectorAll) return;
    var els = root.querySelectorAll('time[datetime]');
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      var d = new Date(el.getAttribute('datetime'));
      if (isNaN(d.getTime())) continue;
      if (!el.dataset.utc) {
        el.dataset.utc = el.textContent;
        el.title = el.textContent;
      }
      el.textContent = formatLocal(d, el.hasAttribute('data-long'));
    }
  }

  function onLoad(root) {
    document.documentElement.classList.add('js');
    initPause();
    localizeTimes(root);
    markNewRows(root);
  }

  document.addEventListener('htmx:load', function (evt) {
    onLoad((evt.detail && evt.detail.elt) || evt.target);
  });

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', function () { onLoad(document); });
  } else {
    onLoad(document);
  }
})();
