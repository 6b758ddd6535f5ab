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
  let opening = null;
  const open = () => {
    if (state.id) return Promise.resolve(state.id);
    if (!opening) {
      opening = call('', { site }).then(r => r.ok ? r.json() : Promise.reject(new Error('behaviour session: ' + r.status)))
        .then(s => { state.id = s.id; state.start = state.start || Date.now(); save(); return s.id; })
        .finally(() => { opening = null; });
    }
    return opening;
  };
  state.start = state.start || Date.now();
  save();
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
    sending = open().then(id => {
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
