/**
 * The dashboard's rendering half, run in the browser: turns the state the data half
 * keeps (S: last status report, traffic samples, log lines, failovers, connection) into
 * DOM. Nodes are built with createElement and textContent only, never innerHTML, so a
 * log line or a backend name can hold anything. Every part a test or an operator's
 * script looks for has a data-testid, and rows carry their key and state as data-*.
 */
export const DASHBOARD_RENDER_SCRIPT = String.raw`
var SVG_NS = 'http://www.w3.org/2000/svg';

function $(id) { return document.querySelector('[data-testid="' + id + '"]'); }

function h(tag, attrs, children) {
  var el = document.createElement(tag);
  setAttrs(el, attrs);
  add(el, children);
  return el;
}

function setAttrs(el, attrs) {
  if (!attrs) return;
  Object.keys(attrs).forEach(function (k) {
    var v = attrs[k];
    if (v === undefined || v === null) return;
    if (k === 'class') el.setAttribute('class', v);
    else el.setAttribute(k, String(v));
  });
}

function add(el, children) {
  if (children === undefined || children === null || children === false) return;
  if (!Array.isArray(children)) children = [children];
  children.forEach(function (c) {
    if (c === undefined || c === null || c === false) return;
    el.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  });
}

function fill(id, children) {
  var el = $(id);
  if (!el) return;
  el.replaceChildren();
  add(el, children);
}

function dash(v) { return v === null || v === undefined ? '\u2013' : v; }
function ms(v) { return v === null || v === undefined ? '\u2013' : Math.round(v) + ' ms'; }
function fixed(v) { return v === null || v === undefined ? '\u2013' : (v >= 100 ? Math.round(v) : Math.round(v * 10) / 10); }
function pad(n, w) { var s = String(n); while (s.length < w) s = '0' + s; return s; }
function clock(t) { var d = new Date(t); return pad(d.getHours(), 2) + ':' + pad(d.getMinutes(), 2) + ':' + pad(d.getSeconds(), 2) + '.' + pad(d.getMilliseconds(), 3); }
function ago(msAgo) {
  if (msAgo === null || msAgo === undefined) return 'never';
  if (msAgo < 1000) return Math.round(msAgo) + ' ms ago';
  if (msAgo < 120000) return Math.round(msAgo / 1000) + ' s ago';
  return Math.round(msAgo / 60000) + ' min ago';
}
function duration(t) {
  var s = Math.floor(t / 1000);
  if (s < 120) return s + ' s';
  if (s < 7200) return Math.floor(s / 60) + ' min';
  return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
}
function stateBadge(state) { return h('span', { class: 'state', 'data-state': state }, state); }
function yesNo(v) { return v === null || v === undefined ? '\u2013' : v ? 'yes' : 'no'; }

function render() {
  renderConnection();
  var r = S.status;
  if (r) {
    renderHeader(r);
    renderNodes(r);
    renderVips(r);
    renderServices(r);
    renderReplication(r);
  }
  renderChart();
  renderFailovers();
  renderLog();
}

function renderConnection() {
  var pill = $('conn-state');
  var banner = $('banner');
  var now = Date.now();
  var conn = S.auth ? 'unauthorized' : S.poll.failures > 0 ? 'disconnected' : S.status ? 'live' : 'connecting';
  pill.setAttribute('data-conn', conn);
  pill.textContent = conn === 'live' ? (S.ws.open ? 'live' : 'live (polling; events reconnecting)') : conn;
  if (conn === 'disconnected') {
    var wait = Math.max(0, Math.ceil((S.poll.nextAt - now) / 1000));
    banner.setAttribute('data-kind', 'disconnected');
    banner.textContent = 'Disconnected from ' + location.host + ' (' + S.poll.error + '), retrying in ' + wait + ' s' + (S.poll.failures > 1 ? ' (attempt ' + S.poll.failures + ')' : '') + '. Figures below are from ' + (S.receivedAt ? ago(now - S.receivedAt) : 'never') + '.';
    banner.hidden = false;
  } else if (conn === 'unauthorized') {
    banner.setAttribute('data-kind', 'unauthorized');
    banner.textContent = 'Not authorised: ' + S.auth + '. Open this page as ' + location.origin + '/#token=<admin token>.';
    banner.hidden = false;
  } else {
    banner.hidden = true;
  }
  var logState = $('log-state');
  if (logState) logState.textContent = S.ws.open ? 'live' : 'reconnecting in ' + Math.max(0, Math.ceil((S.ws.nextAt - now) / 1000)) + ' s';
  var updated = $('updated');
  if (updated) updated.textContent = S.receivedAt ? 'updated ' + ago(now - S.receivedAt) : '';
}

function renderHeader(r) {
  $('node-name').textContent = r.node;
  document.title = 'halo \u00b7 ' + r.node + (r.election ? ' \u00b7 ' + r.election.state : '');
  var bits = [];
  if (r.cluster) bits.push('cluster ' + r.cluster.id);
  bits.push('halo ' + r.version);
  bits.push('up ' + duration(r.uptimeMs));
  if (r.election) bits.push('priority ' + r.election.effectivePriority + (r.election.effectivePriority !== r.election.configuredPriority ? ' (configured ' + r.election.configuredPriority + ')' : ''));
  $('meta').textContent = bits.join(' \u00b7 ');
}

function renderNodes(r) {
  var rows = (r.nodes || []).map(function (n) {
    var key = n.name !== null ? n.name : '@' + n.address;
    return h('tr', { 'data-testid': 'node-row', 'data-node': key, 'data-state': n.state, 'data-self': n.self ? 'true' : 'false' }, [
      h('td', null, [h('b', null, n.name !== null ? n.name : '(not heard)'), n.self ? h('span', { class: 'self' }, 'this node') : null]),
      h('td', { class: 'muted' }, dash(n.address)),
      h('td', null, stateBadge(n.state)),
      h('td', { class: 'num' }, dash(n.priority)),
      h('td', null, yesNo(n.synced)),
      h('td', { class: 'num' }, n.self ? '\u2013' : ago(n.lastSeenMsAgo)),
      h('td', { class: 'muted' }, (n.seenVia || []).join(', ')),
      h('td', { class: 'num' }, ms(n.lagMs))
    ]);
  });
  var why = [];
  var e = r.election;
  if (e) {
    (e.priorityReasons || []).forEach(function (x) { why.push(x); });
    (e.preemptBlockedBy || []).forEach(function (x) { why.push('not preempting: ' + x); });
    if (e.faultReason) why.push('FAULT: ' + e.faultReason);
  }
  fill('nodes', [
    h('table', null, [
      h('thead', null, h('tr', null, ['node', 'address', 'state', 'priority', 'synced', 'last seen', 'seen via', 'sync lag'].map(function (t, i) { return h('th', { class: i === 3 || i === 5 || i === 7 ? 'num' : null }, t); }))),
      h('tbody', null, rows)
    ]),
    why.length ? h('ul', { class: 'plain muted', 'data-testid': 'priority-reasons' }, why.map(function (x) { return h('li', null, x); })) : null
  ]);
}

function renderVips(r) {
  var vips = r.vips || [];
  fill('vips', vips.length ? vips.map(function (v) {
    return h('li', { class: 'vip', 'data-testid': 'vip', 'data-vip': v.address, 'data-holder': v.holder === null ? '' : v.holder }, [
      h('span', { class: 'addr' }, v.address),
      h('span', null, v.holder === null ? h('span', { class: 'muted' }, 'no holder known') : [h('b', null, v.holder), v.self ? h('span', { class: 'self' }, 'this node') : null])
    ]);
  }) : h('li', { class: 'empty' }, 'no VIP configured'));
}

function renderServices(r) {
  var services = r.services || [];
  fill('services', services.length ? services.map(function (s) {
    return h('div', { class: 'service', 'data-testid': 'service', 'data-service': s.name, 'data-healthy': s.healthy ? 'true' : 'false' }, [
      h('div', { class: 'head' }, [
        h('span', null, [h('span', { class: 'dot', 'data-up': s.healthy ? 'true' : 'false' }), h('span', { class: 'name' }, s.name)]),
        h('span', { class: 'muted' }, s.mode + ' ' + s.listen),
        h('span', null, s.backendsUp + '/' + s.backendsTotal + ' up'),
        h('span', { class: 'muted' }, fixed(s.requestsPerSec) + ' req/s \u00b7 ' + fixed(s.connectionsPerSec) + ' conn/s \u00b7 ' + s.connectionsActive + ' active')
      ]),
      h('table', null, [
        h('thead', null, h('tr', null, ['backend', 'pool', 'health', 'active', 'connections', 'requests'].map(function (t, i) { return h('th', { class: i >= 3 ? 'num' : null }, t); }))),
        h('tbody', null, (s.backends || []).map(function (b) {
          return h('tr', { 'data-testid': 'backend', 'data-backend': b.pool + '/' + b.name, 'data-up': b.up ? 'true' : 'false' }, [
            h('td', null, [h('span', { class: 'dot', 'data-up': b.up ? 'true' : 'false' }), b.name]),
            h('td', { class: 'muted' }, b.pool),
            h('td', null, b.up ? 'up' : 'down'),
            h('td', { class: 'num' }, b.active),
            h('td', { class: 'num' }, b.connectionsActive + ' / ' + b.connectionsTotal),
            h('td', { class: 'num' }, b.requestsTotal)
          ]);
        }))
      ])
    ]);
  }) : h('div', { class: 'empty' }, 'no services'));
}

function renderReplication(r) {
  var x = r.replication;
  if (!x) { fill('replication', h('div', { class: 'empty' }, 'replication is off')); return; }
  var parts = [h('dl', { class: 'kv' }, [
    h('dt', null, 'role'), h('dd', { 'data-testid': 'replication-role' }, x.role),
    h('dt', null, 'synced'), h('dd', null, yesNo(x.synced)),
    h('dt', null, 'digest match'), h('dd', null, yesNo(x.lastDigestMatch))
  ])];
  if (x.standby) {
    var sb = x.standby;
    parts.push(h('dl', { class: 'kv' }, [
      h('dt', null, 'master'), h('dd', null, dash(sb.master) + (sb.connected ? ' (connected)' : ' (not connected)')),
      h('dt', null, 'phase'), h('dd', null, sb.phase + (sb.snapshot ? ' ' + sb.snapshot.received + '/' + sb.snapshot.total : '')),
      sb.lastError ? h('dt', null, 'last error') : null, sb.lastError ? h('dd', null, sb.lastError) : null
    ]));
  }
  if (x.peers && x.peers.length) {
    parts.push(h('table', null, [
      h('thead', null, h('tr', null, ['standby', 'phase', 'synced', 'lag', 'unacked', 'snapshot', 'resyncs'].map(function (t, i) { return h('th', { class: i >= 3 ? 'num' : null }, t); }))),
      h('tbody', null, x.peers.map(function (p) {
        return h('tr', { 'data-testid': 'replication-peer', 'data-peer': p.node, 'data-synced': p.synced ? 'true' : 'false' }, [
          h('td', null, [h('b', null, p.node), h('span', { class: 'self' }, p.remote)]),
          h('td', null, p.phase),
          h('td', null, yesNo(p.synced)),
          h('td', { class: 'num', 'data-testid': 'sync-lag' }, ms(p.lagMs)),
          h('td', { class: 'num' }, dash(p.unacked)),
          h('td', { class: 'num' }, p.snapshot ? p.snapshot.sent + '/' + p.snapshot.total : '\u2013'),
          h('td', { class: 'num', title: p.lastResync || '' }, p.resyncs)
        ]);
      }))
    ]));
  } else if (x.role === 'master') {
    parts.push(h('div', { class: 'empty' }, 'no standby connected'));
  }
  fill('replication', parts);
}

function svg(tag, attrs) {
  var el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  return el;
}

/** The smallest 1, 2 or 5 x 10^k at or above v (at least 1): a y axis that reads well. */
function niceCeil(v) {
  if (!(v > 1)) return 1;
  var p = Math.pow(10, Math.floor(Math.log10(v)));
  return v <= p ? p : v <= 2 * p ? 2 * p : v <= 5 * p ? 5 * p : 10 * p;
}

/** The x axis: since the first sample (at least MIN_SPAN_MS), at most WINDOW_MS, so a page opened a minute ago has a readable line. */
var MIN_SPAN_MS = 30000;
function chartSpan(now) {
  var first = S.samples.length ? S.samples[0].t : now;
  return Math.min(WINDOW_MS, Math.max(MIN_SPAN_MS, now - first));
}
function spanLabel(ms) { return ms >= 120000 ? Math.round(ms / 60000) + ' min' : Math.round(ms / 1000) + ' s'; }

/** A line over the span; a failed poll (null) breaks it, so an outage shows as a gap. */
function chart(title, key, color, unit) {
  var W = 300, H = 100, now = Date.now();
  var span = chartSpan(now);
  var pts = S.samples;
  var max = 0;
  pts.forEach(function (p) { if (p[key] !== null && p[key] > max) max = p[key]; });
  var top = niceCeil(max);
  var el = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, preserveAspectRatio: 'none', role: 'img', 'aria-label': title });
  [0.25, 0.5, 0.75].forEach(function (f) { el.appendChild(svg('line', { x1: 0, x2: W, y1: H * f, y2: H * f, stroke: 'currentColor', 'stroke-opacity': 0.12, 'stroke-width': 1 })); });
  var segments = [], current = [];
  pts.forEach(function (p) {
    if (p[key] === null || p[key] === undefined) { if (current.length) segments.push(current); current = []; return; }
    var x = W - ((now - p.t) / span) * W;
    var y = H - 2 - (p[key] / top) * (H - 4);
    current.push(x.toFixed(1) + ',' + y.toFixed(1));
  });
  if (current.length) segments.push(current);
  segments.forEach(function (seg) {
    if (seg.length === 1) seg.push(seg[0]);
    el.appendChild(svg('polyline', { points: seg.join(' '), fill: 'none', stroke: color, 'stroke-width': 2, 'vector-effect': 'non-scaling-stroke', 'stroke-linejoin': 'round' }));
  });
  var last = null;
  for (var i = pts.length - 1; i >= 0; i--) if (pts[i][key] !== null) { last = pts[i][key]; break; }
  return h('div', { class: 'chart', 'data-testid': 'chart-' + key }, [
    h('div', { class: 'title' }, [h('span', null, title), h('span', { class: 'value', 'data-testid': 'chart-' + key + '-value' }, last === null ? '\u2013' : fixed(last) + unit)]),
    el,
    h('div', { class: 'axis' }, [h('span', null, '\u2212' + spanLabel(span)), h('span', null, 'max ' + fixed(top)), h('span', null, 'now')])
  ]);
}

function renderChart() {
  fill('traffic-chart', h('div', { class: 'charts' }, [
    chart('requests / s (all services)', 'rps', 'var(--chart1)', ''),
    chart('active connections', 'conns', 'var(--chart2)', '')
  ]));
}

function renderFailovers() {
  var list = S.failovers;
  fill('failovers', list.length ? list.map(function (f) {
    var head = h('div', { class: 'head' }, [
      h('span', { class: 'time' }, new Date(f.at).toLocaleDateString() + ' ' + clock(f.at)),
      h('b', null, f.node || '?'),
      f.kind === 'takeover' ? h('span', null, ['took over the VIP ', stateBadge('MASTER')]) : h('span', null, [f.from ? stateBadge(f.from) : null, ' \u2192 ', stateBadge(f.state)]),
      f.degraded ? h('span', { class: 'degraded' }, 'degraded (tables not synced)') : null
    ]);
    var body = [head, h('div', { class: 'cause' }, f.cause || '')];
    if (f.kind === 'takeover') {
      var end = Math.max(f.garp || 0, f.vipAdded || 0, f.detected || 0, 1);
      var mark = function (cls, v) { if (v === null || v === undefined) return null; var s = h('span', { class: cls }); s.style.left = 'calc(' + ((v / end) * 100).toFixed(1) + '% - 1px)'; return s; };
      body.push(h('div', { class: 'steps' }, [
        h('span', null, ['detected ', h('b', null, ms(f.detected))]),
        h('span', null, ['VIP added ', h('b', null, ms(f.vipAdded))]),
        h('span', null, ['GARP sent ', h('b', null, ms(f.garp))]),
        h('span', { class: 'muted' }, 'from the ' + (f.from_ || 'last advert'))
      ]));
      body.push(h('div', { class: 'bar' }, [mark('detected', f.detected), mark('vip', f.vipAdded), mark('garp', f.garp)]));
    }
    return h('li', { class: 'failover', 'data-testid': 'failover-event', 'data-kind': f.kind, 'data-node': f.node || '', 'data-state': f.state }, body);
  }) : h('li', { class: 'empty' }, 'no state change seen yet'));
}

var SKIP_FIELDS = { level: 1, message: 1, timestamp: 1, node: 1 };
function renderLog() {
  var box = $('log');
  var stick = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
  fill('log', S.log.length ? S.log.map(function (m) {
    var e = m.entry || {};
    var fields = Object.keys(e).filter(function (k) { return !SKIP_FIELDS[k]; }).map(function (k) {
      var v = e[k];
      return k + '=' + (typeof v === 'string' ? v : JSON.stringify(v));
    }).join(' ');
    return h('div', { class: 'line', 'data-testid': 'log-line', 'data-level': e.level || '' }, [
      h('span', { class: 't' }, clock(m.at)), ' ',
      e.node ? h('span', { class: 'n' }, e.node) : null, e.node ? ' ' : null,
      h('span', { class: 'm' }, (e.level || '') + ' ' + (e.message || '')), ' ',
      h('span', { class: 'f' }, fields)
    ]);
  }) : h('div', { class: 'empty' }, 'no log line yet'));
  if (stick) box.scrollTop = box.scrollHeight;
}
`;
