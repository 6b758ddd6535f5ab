// Injected into every page of a browser session before the page's own
// scripts: records the input the page sees (mouse, keys, wheel, focus) and
// each page's Web Vitals, keeping them in sessionStorage across navigations
// so the whole session can be collected at its end.
(() => {
  if (window.__throng) return;
  const KEY = '__throng';
  let saved = {};
  try { saved = JSON.parse(sessionStorage.getItem(KEY) || '{}'); } catch (e) { saved = {}; }
  const log = {
    mouse: saved.mouse || [], keys: saved.keys || [], scrolls: saved.scrolls || [],
    focus: saved.focus || [], pages: saved.pages || [], errors: saved.errors || [],
  };
  const now = () => Date.now();
  const on = (type, f) => addEventListener(type, f, { capture: true, passive: true });
  on('mousemove', e => log.mouse.push({ t: now(), x: e.clientX, y: e.clientY }));
  on('mousedown', e => log.mouse.push({ t: now(), x: e.clientX, y: e.clientY, type: 'down' }));
  on('mouseup', e => log.mouse.push({ t: now(), x: e.clientX, y: e.clientY, type: 'up' }));
  on('keydown', e => log.keys.push({ t: now(), key: e.key, type: 'down' }));
  on('keyup', e => log.keys.push({ t: now(), key: e.key, type: 'up' }));
  on('wheel', e => log.scrolls.push({ t: now(), dy: e.deltaY }));
  on('blur', e => { if (e.target === window) log.focus.push({ t: now(), type: 'blur' }); });
  on('focus', e => { if (e.target === window) log.focus.push({ t: now(), type: 'focus' }); });
  on('error', e => log.errors.push({ url: location.href, message: String(e.message || e.type) }));
  const vitals = { lcp: 0, cls: 0, inp: 0 };
  const observe = (type, f, extra) => {
    try {
      new PerformanceObserver(list => list.getEntries().forEach(f))
        .observe(Object.assign({ type, buffered: true }, extra || {}));
    } catch (e) { /* not supported here */ }
  };
  observe('largest-contentful-paint', e => { vitals.lcp = e.startTime; });
  observe('layout-shift', e => { if (!e.hadRecentInput) vitals.cls += e.value; });
  // Interaction to Next Paint, approximated by the slowest interaction.
  observe('event', e => { if (e.interactionId) vitals.inp = Math.max(vitals.inp, e.duration); }, { durationThreshold: 16 });
  const page = () => {
    const n = performance.getEntriesByType('navigation')[0] || {};
    return {
      url: location.href, started_ms: performance.timeOrigin || 0, status: n.responseStatus || 0, ttfb_ms: n.responseStart || 0, dom_ms: n.domContentLoadedEventEnd || 0,
      load_ms: n.loadEventEnd || 0, lcp_ms: vitals.lcp, cls: vitals.cls, inp_ms: vitals.inp,
      bytes: n.decodedBodySize || 0,
    };
  };
  on('pagehide', () => {
    log.pages.push(page());
    try { sessionStorage.setItem(KEY, JSON.stringify(log)); } catch (e) { /* storage full */ }
  });
  window.__throng = {
    collect: () => ({
      mouse: log.mouse, keys: log.keys, scrolls: log.scrolls, focus: log.focus,
      pages: log.pages.concat([page()]), errors: log.errors,
      device: {
        user_agent: navigator.userAgent, platform: navigator.platform,
        screen_width: screen.width, screen_height: screen.height,
        viewport_width: innerWidth, viewport_height: innerHeight,
        touch_points: navigator.maxTouchPoints || 0, webdriver: !!navigator.webdriver,
        languages: Array.from(navigator.languages || []),
      },
    }),
  };
})();
