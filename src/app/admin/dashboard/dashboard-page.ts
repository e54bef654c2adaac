/**
 * GET / of the admin API: one self-contained page (inline CSS and JS, no external URL)
 * that shows this node's view of the cluster live. It is a TS module exporting strings
 * rather than a .html file because the build is `tsc` alone, which copies no other file
 * to dist: a string cannot go missing from a clean clone's build.
 *
 * The Content-Security-Policy allows exactly this script and this stylesheet (by hash),
 * same-origin fetch and WebSocket, and nothing else: a log line that reached the DOM
 * could not run code even if the page forgot to escape it (it does not forget).
 */
import { createHash } from 'node:crypto';
import { DASHBOARD_DATA_SCRIPT } from './dashboard-script.js';
import { DASHBOARD_RENDER_SCRIPT } from './dashboard-render.js';
import { DASHBOARD_STYLE } from './dashboard-style.js';

export interface DashboardPage {
  html: string;
  csp: string;
}

/** What tests and scripts may rely on; the page renders rows with data-node/data-state and the like inside these. */
export const DASHBOARD_TEST_IDS = ['banner', 'conn-state', 'node-name', 'nodes', 'vips', 'traffic-chart', 'failovers', 'services', 'replication', 'log'] as const;

// One function scope for both halves; render first, so the data half's start-up finds every declaration.
const SCRIPT = `\n(function () {\n'use strict';\n${DASHBOARD_RENDER_SCRIPT}\n${DASHBOARD_DATA_SCRIPT}\n})();\n`;

const BODY = `
<div class="banner" data-testid="banner" role="alert" hidden></div>
<header>
  <h1>halo</h1>
  <span class="node" data-testid="node-name">&hellip;</span>
  <span class="meta" data-testid="meta"></span>
  <span class="spacer"></span>
  <span class="meta" data-testid="updated"></span>
  <span class="pill" data-testid="conn-state" data-conn="connecting">connecting</span>
</header>
<main>
  <section class="panel span8"><h2>Nodes <span class="note muted">as this node sees them</span></h2><div data-testid="nodes"><div class="empty">waiting for the first status&hellip;</div></div></section>
  <section class="panel span4"><h2>Virtual IPs <span class="note muted">and who holds them</span></h2><ul class="plain" data-testid="vips"></ul></section>
  <section class="panel span6"><h2>Traffic <span class="note muted">this node, up to the last 5 minutes, sampled every second</span></h2><div data-testid="traffic-chart"></div></section>
  <section class="panel span6"><h2>Failovers <span class="note muted">state changes and takeover timelines, newest first</span></h2><ol class="plain" data-testid="failovers"></ol></section>
  <section class="panel span7"><h2>Services and backends</h2><div data-testid="services"></div></section>
  <section class="panel span5"><h2>Replication <span class="note muted">sync lag per standby</span></h2><div data-testid="replication"></div></section>
  <section class="panel span12"><h2>Log <span class="note muted" data-testid="log-state"></span></h2><div class="log" data-testid="log"></div></section>
</main>
`;

const hash = (text: string): string => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

function build(): DashboardPage {
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>halo</title>
<style>${DASHBOARD_STYLE}</style>
</head>
<body>${BODY}<script>${SCRIPT}</script>
</body>
</html>
`;
  const csp = [
    "default-src 'none'",
    `script-src ${hash(SCRIPT)}`,
    `style-src ${hash(DASHBOARD_STYLE)}`,
    // 'self' covers ws: to the same host in CSP 3 (Chromium, Firefox); the page opens nothing else.
    "connect-src 'self'",
    "img-src data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { html, csp };
}

let page: DashboardPage | undefined;

/** Built once, on first use. */
export function dashboardPage(): DashboardPage {
  page ??= build();
  return page;
}

/** For tests: the page's script as the browser runs it. */
export function dashboardScript(): string {
  return SCRIPT;
}
