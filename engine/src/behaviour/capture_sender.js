// The part of the site capture script (`GET /behaviour/capture.js`) that
// sends: it opens a bot-detection session on the coordinator the script
// came from (once per tab, kept in sessionStorage across pages), then every
// few seconds, and as a page is left, appends the events recorded since the
// last send, timed from the session's start. Attributes of its <script>:
// data-site (what the session is of; default the page's host) and
// data-token (a read token, only where the API asks for one).
(() => {
  if (window.__throngBehaviour || !window.__throng) return;
  const me = document.currentScript;
  const base = new URL(me ? me.src : location.href).origin;
  const site = (me && me.dataset.site) || location.host;
  const token = me && me.dataset.token;
  const KEY = '__throng_behaviour';
  let state = {};
  try { state = JSON.parse(sessionStorage.getItem(KEY) || '{}'); } catch (e) { state = {}; }
  state.sent = state.sent || { mouse: 0, keys: 0, scrolls: 0, focus: 0 };
  const save = () => { try { sessionStorage.setItem(KEY, JSON.stringify(state)); } catch (e) { /* full */ } };
  const headers = () => Object.assign({ 'content-type': 'application/json' }, token ? { authorization: 'Bearer ' + token } : {});
  const call = (path, body, keepalive) =>
    fetch(base + '/api/v1/behaviour/sessions' + path, { method: 'POST', headers: headers(), body: JSON.stringify(body), keepalive: !!keepalive });
  // The session is named here, at once, so every page of the tab sends to
  // the same one even when the visitor moves on before the first answer;
  // each page makes sure it exists (creating a named session again is harmless).
  if (!state.id) {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    state.id = 'bs-' + Array.from(bytes, b => b.toString(16).padStart(2, '0')).join('');
  }
  state.start = state.start || Date.now();
  save();
  let opened = null;
  const open = (keepalive) => {
    if (!opened) {
      opened = call('', { site, id: state.id }, keepalive)
        .then(r => r.ok ? state.id : Promise.reject(new Error('behaviour session: ' + r.status)))
        .catch(e => { opened = null; throw e; });
    }
    return opened;
  };
  open(false).catch(() => { /* tried again at the next send */ });
  // Everything recorded since the last send, times from the session's start.
  const pending = () => {
    const log = window.__throng.collect();
    const part = { device: log.device, duration_ms: Math.max(0, Date.now() - state.start) };
    let events = 0;
    for (const kind of ['mouse', 'keys', 'scrolls', 'focus']) {
      const fresh = log[kind].slice(state.sent[kind]);
      part[kind] = fresh.map(e => Object.assign({}, e, { t: Math.max(0, e.t - state.start) }));
      events += fresh.length;
    }
    return { part, events, counts: { mouse: log.mouse.length, keys: log.keys.length, scrolls: log.scrolls.length, focus: log.focus.length } };
  };
  let sending = null;
  const flush = (keepalive) => {
    if (sending) return sending;
    sending = open(keepalive).then(id => {
      const { part, counts } = pending();
      return call('/' + id + '/data', part, keepalive).then(r => {
        if (r.ok) { state.sent = counts; save(); }
        return r.ok;
      });
    }).catch(() => false).finally(() => { sending = null; });
    return sending;
  };
  setInterval(() => { flush(false); }, 3000);
  addEventListener('pagehide', () => { flush(true); }, { capture: true });
  window.__throngBehaviour = {
    session: () => open(),
    flush: () => flush(false),
    analyse: () => flush(false).then(() => open()).then(id => call('/' + id + '/analyse', {}))
      .then(r => r.json()),
  };
})();
