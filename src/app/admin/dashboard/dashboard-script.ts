/**
 * The dashboard's data side, run in the browser (plain ES2017, no framework): it polls
 * GET /status every second for the figures (the traffic chart is built from those
 * samples), follows GET /events (WebSocket) for log lines and state changes as they
 * happen, and reconnects both with backoff while a banner says the node is unreachable.
 *
 * With an admin token the page is opened as /#token=...: the token moves to the tab's
 * sessionStorage and out of the address bar, goes as a Bearer header on fetch and as the
 * `bearer.<base64url>` subprotocol on the WebSocket (browsers cannot set its headers).
 *
 * Kept as a string (in a String.raw template: no backquote nor dollar-brace inside) so
 * `tsc` alone ships it to dist; dashboard-page.test.ts checks that it parses. The
 * rendering half is dashboard-render.ts; both run in one function scope.
 */
export const DASHBOARD_DATA_SCRIPT = String.raw`
var POLL_MS = 1000;
var POLL_TIMEOUT_MS = 2500;
var MAX_BACKOFF_MS = 15000;
var WINDOW_MS = 5 * 60 * 1000;
var MAX_SAMPLES = 600;
var MAX_LOG = 300;
var MAX_FAILOVERS = 40;
var REPLAY_MS = 60 * 60 * 1000;
var TOKEN_KEY = 'halo.admin.token';

var token = takeToken();
var S = {
  status: null,
  receivedAt: 0,
  samples: [],
  log: [],
  logKeys: {},
  lastLogAt: 0,
  failovers: [],
  poll: { failures: 0, nextAt: 0, error: '' },
  auth: '',
  ws: { open: false, failures: 0, nextAt: 0 }
};

function takeToken() {
  var m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (m) {
    var t = '';
    try { t = decodeURIComponent(m[1]); } catch (e) { t = m[1]; }
    try { sessionStorage.setItem(TOKEN_KEY, t); } catch (e) { /* storage off: this load only */ }
    history.replaceState(null, '', location.pathname + location.search);
    return t;
  }
  try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; }
}

function base64url(text) {
  var bytes = new TextEncoder().encode(text);
  var bin = '';
  for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function backoff(failures) {
  return Math.min(POLL_MS * Math.pow(2, Math.max(0, failures - 1)), MAX_BACKOFF_MS);
}

function sum(list, key) {
  var total = 0;
  for (var i = 0; i < list.length; i++) total += Number(list[i][key]) || 0;
  return total;
}

/* ---- GET /status, every second; backoff while it fails ---- */

function poll() {
  var ctl = new AbortController();
  var timer = setTimeout(function () { ctl.abort(); }, POLL_TIMEOUT_MS);
  var headers = token ? { authorization: 'Bearer ' + token } : {};
  fetch('/status', { headers: headers, cache: 'no-store', credentials: 'omit', signal: ctl.signal })
    .then(function (res) {
      if (res.status === 401 || res.status === 403) {
        return res.json().catch(function () { return null; }).then(function (body) {
          var e = new Error((body && body.error && body.error.message) || ('HTTP ' + res.status));
          e.auth = true;
          throw e;
        });
      }
      if (!res.ok) throw new Error('HTTP ' + res.status);
      return res.json();
    })
    .then(function (report) {
      S.poll.failures = 0;
      S.poll.error = '';
      S.auth = '';
      sample(report);
      onStatus(report);
      next(POLL_MS);
    })
    .catch(function (err) {
      if (err && err.auth) {
        S.auth = err.message;
        next(5000);
      } else {
        S.poll.failures++;
        S.poll.error = err && err.name === 'AbortError' ? 'no answer within ' + POLL_TIMEOUT_MS / 1000 + ' s' : String((err && err.message) || err);
        S.samples.push({ t: Date.now(), rps: null, conns: null });
        next(backoff(S.poll.failures));
      }
      render();
    })
    .finally(function () { clearTimeout(timer); });
}

function next(ms) {
  S.poll.nextAt = Date.now() + ms;
  setTimeout(poll, ms);
}

function sample(report) {
  var services = report.services || [];
  S.samples.push({ t: Date.now(), rps: sum(services, 'requestsPerSec'), conns: sum(services, 'connectionsActive'), cps: sum(services, 'connectionsPerSec') });
  var cut = Date.now() - WINDOW_MS;
  while (S.samples.length > MAX_SAMPLES || (S.samples.length > 0 && S.samples[0].t < cut)) S.samples.shift();
}

function onStatus(report) {
  S.status = report;
  S.receivedAt = Date.now();
  var e = report.election;
  if (e && e.lastChange) addFailover({ kind: 'state_change', at: Date.parse(e.lastChange.at), node: report.node, from: e.lastChange.from, state: e.lastChange.state, cause: e.lastChange.cause, degraded: e.lastChange.degraded });
  if (e && e.lastTakeover) {
    var t = e.lastTakeover;
    addFailover({ kind: 'takeover', at: Date.parse(t.at), node: report.node, state: 'MASTER', cause: t.cause, from_: t.timelineFrom, detected: t.detectedMs, vipAdded: t.vipAddedMs, garp: t.garpSentMs });
  }
  render();
}

/* ---- GET /events: log lines and state changes as they happen ---- */

function connectEvents() {
  var scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
  // Replay what we have not seen: from the last line we have (duplicates are dropped by key).
  var since = Math.max(0, Math.floor(S.lastLogAt || Date.now() - REPLAY_MS));
  var url = scheme + location.host + '/events?since=' + since;
  var ws;
  try {
    ws = token ? new WebSocket(url, ['bearer.' + base64url(token)]) : new WebSocket(url);
  } catch (e) {
    retryEvents();
    return;
  }
  ws.onopen = function () { S.ws.open = true; S.ws.failures = 0; render(); };
  ws.onmessage = function (ev) {
    var m;
    try { m = JSON.parse(ev.data); } catch (e) { return; }
    if (m.type === 'log') onLog(m);
    else if (m.type === 'status' && m.status) onStatus(m.status);
  };
  ws.onclose = function () { S.ws.open = false; retryEvents(); render(); };
}

function retryEvents() {
  S.ws.failures++;
  var ms = backoff(S.ws.failures);
  S.ws.nextAt = Date.now() + ms;
  setTimeout(connectEvents, ms);
}

function onLog(m) {
  var key = m.at + ':' + m.seq;
  if (S.logKeys[key]) return;
  S.logKeys[key] = true;
  S.log.push(m);
  if (m.at > S.lastLogAt) S.lastLogAt = m.at;
  while (S.log.length > MAX_LOG) {
    var old = S.log.shift();
    delete S.logKeys[old.at + ':' + old.seq];
  }
  var e = m.entry || {};
  if (e.message === 'state_change') addFailover({ kind: 'state_change', at: m.at, node: e.node, from: e.from, state: e.state, cause: e.cause, degraded: e.degraded === true });
  if (e.message === 'takeover') addFailover({ kind: 'takeover', at: m.at, node: e.node, state: 'MASTER', cause: e.cause, from_: e.timeline_from, detected: e.detected_ms, vipAdded: e.vip_added_ms, garp: e.garp_sent_ms });
  renderSoon();
}

/** One entry per event: the log line and the status report name the same one a few ms apart. */
function addFailover(f) {
  if (!isFinite(f.at)) return;
  for (var i = 0; i < S.failovers.length; i++) {
    var o = S.failovers[i];
    if (o.kind === f.kind && o.state === f.state && Math.abs(o.at - f.at) < 2000 && (o.node === f.node || !o.node || !f.node)) return;
  }
  S.failovers.push(f);
  S.failovers.sort(function (a, b) { return b.at - a.at; });
  if (S.failovers.length > MAX_FAILOVERS) S.failovers.length = MAX_FAILOVERS;
}

var renderTimer = 0;
function renderSoon() {
  if (renderTimer) return;
  renderTimer = setTimeout(function () { renderTimer = 0; render(); }, 100);
}

poll();
connectEvents();
// The banner's countdown and the "updated N s ago" figures move between answers too.
setInterval(renderConnection, 1000);
`;
