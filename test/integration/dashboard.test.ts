/**
 * The dashboard (GET /) in headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core; no browser is ever downloaded).
 *
 * 1. Against a local AdminServer with a token (no lab): the page takes the token from
 *    #token=, authenticates fetch and the WebSocket with it, shows a node and live log
 *    lines, and shows "disconnected, retrying" when the node goes away, then recovers.
 * 2. In a 2-node netns lab: Chromium runs inside lb2's namespace (a wrapper script does
 *    `ip netns exec`; playwright talks to it over a pipe, which crosses namespaces), so
 *    it opens lb2's loopback admin API without a token. The page shows lb1 MASTER and
 *    lb2 BACKUP; lb1 is SIGKILLed while the lab's client probes the VIP; without a reload
 *    the page shows lb2 MASTER, then lb2's requests/s on its chart. The screenshot is
 *    saved to test-artifacts/dashboard-failover.png.
 *
 * The lab runs dist/ (bin/halo.js): `npm run build` first, as `npm test` does.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { AdminServer } from '../../src/adapters/admin/admin-server.js';
import { dashboardPage } from '../../src/app/admin/dashboard/dashboard-page.js';
import { buildStatusReport } from '../../src/app/admin/status-report.js';
import { statusInputs } from '../fakes/admin-status.js';
import { labNamespace, useLab, waitMaster } from '../helpers/lab.js';
import { netnsSupport } from '../helpers/netns.js';
import { recordingLogger } from '../helpers/recording-logger.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const VIEWPORT = { width: 1280, height: 800 };

const noBrowser = existsSync(CHROMIUM) ? '' : `${CHROMIUM} is missing (apt-get install chromium)`;
const netns = netnsSupport();
const noLab = noBrowser || (netns.ok ? '' : netns.reason);
if (noBrowser) console.log(`dashboard browser tests skipped: ${noBrowser}`);
else if (noLab) console.log(`dashboard lab browser test skipped: ${noLab}`);

/**
 * Playwright makes a fresh --user-data-dir per launch itself (and refuses one in args),
 * removing it on close. `executable` may be a wrapper script that execs chromium.
 */
function launch(executable: string): Promise<Browser> {
  return chromium.launch({ executablePath: executable, headless: true, args: FLAGS, timeout: 30_000 });
}

/** What went wrong in the page: script errors and console errors (a CSP refusal is one). */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  return errors;
}

const ROWS = `JSON.stringify(Array.from(document.querySelectorAll('[data-testid="node-row"]')).map(function (r) { return r.getAttribute('data-node') + '=' + r.getAttribute('data-state'); }))`;

/** Bounded wait for a selector; the failure names what was awaited and what the page showed. */
async function waitSelector(page: Page, selector: string, what: string, timeoutMs: number): Promise<void> {
  try {
    await page.waitForSelector(selector, { timeout: timeoutMs, state: 'attached' });
  } catch {
    const rows = await page.evaluate(ROWS).catch(() => '?');
    const banner = await page.textContent('[data-testid="banner"]').catch(() => '?');
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${selector}); nodes shown: ${String(rows)}; banner: ${banner ?? ''}`);
  }
}

const nodeRow = (node: string, state: string) => `[data-testid="node-row"][data-node="${node}"][data-state="${state}"]`;

(noBrowser ? describe.skip : describe)(`dashboard in headless Chromium, local admin server${noBrowser ? ` (skipped: ${noBrowser})` : ''}`, () => {
  const TOKEN = 'browser-token-0123456789/+=';
  let browser: Browser | undefined;
  const servers: AdminServer[] = [];
  let push: (m: unknown) => void = () => undefined;

  beforeAll(async () => {
    browser = await launch(CHROMIUM);
  }, 40_000);
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  afterAll(async () => {
    await browser?.close();
  }, 20_000);

  async function serve(port = 0): Promise<number> {
    const server = new AdminServer({
      host: '127.0.0.1',
      port,
      token: Buffer.from(TOKEN),
      status: () => buildStatusReport(statusInputs({ generatedAt: new Date().toISOString() })),
      dashboard: dashboardPage(),
      metrics: async () => ({ contentType: 'text/plain', body: '' }),
      events: { initial: () => [], subscribe: (send) => ((push = send), () => undefined) },
      log: recordingLogger(),
    });
    servers.push(server);
    return (await server.listen()).port;
  }

  it('#token= authenticates fetch and the WebSocket, leaves the address bar; the node going away shows the banner, coming back clears it', async () => {
    const port = await serve();
    const page = await (browser as Browser).newPage({ viewport: VIEWPORT });
    const errors = watchErrors(page);
    try {
      await page.goto(`http://127.0.0.1:${port}/#token=${encodeURIComponent(TOKEN)}`, { timeout: 10_000 });
      await waitSelector(page, nodeRow('lb1', 'MASTER'), 'lb1 MASTER from /status', 10_000);
      await waitSelector(page, '[data-testid="vip"][data-holder="lb1"]', 'the VIP held by lb1', 5000);
      await waitSelector(page, '[data-testid="backend"][data-backend="default/web3"][data-up="false"]', 'web3 down', 5000);
      expect(page.url()).toBe(`http://127.0.0.1:${port}/`);
      // A log line only the WebSocket can bring: it authenticated with the subprotocol.
      await waitSelector(page, '[data-testid="log-state"]:text-is("live")', 'the events stream open', 5000);
      push({ type: 'log', seq: 1, at: Date.now(), entry: { level: 'warn', message: 'from_the_socket', node: 'lb1', timestamp: new Date().toISOString(), cause: '<b>not markup</b>' } });
      await waitSelector(page, '[data-testid="log-line"]:has-text("from_the_socket")', 'the pushed log line', 5000);
      expect(await page.locator('[data-testid="log"] b').count()).toBe(0);

      await Promise.all(servers.splice(0).map((s) => s.close()));
      await waitSelector(page, '[data-testid="banner"][data-kind="disconnected"]:not([hidden])', 'the disconnected banner', 8000);
      expect(await page.textContent('[data-testid="banner"]')).toMatch(/^Disconnected from 127\.0\.0\.1:\d+ .*retrying in \d+ s/);
      await serve(port);
      // Backoff after ~1 failure or two: at most 2-4 s, bounded here at 10 s.
      await waitSelector(page, '[data-testid="banner"][hidden]', 'the banner gone once the node answers', 10_000);
      await waitSelector(page, '[data-testid="conn-state"][data-conn="live"]', 'live again', 5000);
      await waitSelector(page, '[data-testid="log-state"]:text-is("live")', 'the events stream reopened', 20_000);
      expect(errors.filter((e) => !/ERR_CONNECTION_REFUSED|WebSocket connection/.test(e))).toEqual([]);
    } finally {
      await page.close();
    }
  }, 60_000);

  it('a wrong token: an "unauthorised" banner, nothing shown', async () => {
    const port = await serve();
    const page = await (browser as Browser).newPage({ viewport: VIEWPORT });
    try {
      await page.goto(`http://127.0.0.1:${port}/#token=wrong-token-0123456789`, { timeout: 10_000 });
      await waitSelector(page, '[data-testid="banner"][data-kind="unauthorized"]:not([hidden])', 'the unauthorised banner', 8000);
      expect(await page.locator('[data-testid="node-row"]').count()).toBe(0);
    } finally {
      await page.close();
    }
  }, 30_000);
});

(noLab ? describe.skip : describe)(`dashboard in headless Chromium, 2-node lab, browser in lb2's namespace${noLab ? ` (skipped: ${noLab})` : ''}`, () => {
  const lab = useLab('db');
  let browser: Browser | undefined;
  let dir: string | undefined;

  beforeAll(async () => {
    await waitMaster(lab, 'lb1', 15_000);
    dir = mkdtempSync(join(tmpdir(), 'halo-dash-'));
    const wrapper = join(dir, 'chromium-in-lb2');
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${labNamespace(lab, 'lb2')} ${CHROMIUM} "$@"\n`, { mode: 0o755 });
    browser = await launch(wrapper);
  }, 60_000);
  // After hooks run in reverse: the browser closes before the lab goes down.
  afterAll(async () => {
    await browser?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }, 20_000);

  it('shows lb1 MASTER and lb2 BACKUP; after lb1 is SIGKILLed, lb2 MASTER without a reload', async () => {
    const page = await (browser as Browser).newPage({ viewport: VIEWPORT });
    const errors = watchErrors(page);
    const stopProbe = new AbortController();
    let probe: Promise<unknown> | undefined;
    let loads = 0;
    page.on('load', () => (loads += 1));
    try {
      const res = await page.goto('http://127.0.0.1:9797/', { timeout: 10_000 });
      expect(res?.status(), 'lb2 serves the page (a stale dist/? run npm run build)').toBe(200);
      await waitSelector(page, nodeRow('lb1', 'MASTER'), 'lb1 shown as MASTER (from lb2 hearing its adverts)', 10_000);
      await waitSelector(page, `${nodeRow('lb2', 'BACKUP')}[data-self="true"]`, 'lb2 (this node) shown as BACKUP', 5000);
      await waitSelector(page, '[data-testid="vip"][data-holder="lb1"]', 'the VIP held by lb1', 5000);
      await waitSelector(page, '[data-testid="conn-state"][data-conn="live"]', 'the page live', 5000);
      await waitSelector(page, '[data-testid="log-state"]:text-is("live")', 'the events stream open', 5000);
      await page.evaluate('window.haloNoReload = 42');

      // Traffic for the chart: a new connection to the VIP every 10 ms, served by lb2 once it takes over.
      probe = lab.probe({ seconds: 40, stop: stopProbe.signal });
      await new Promise((r) => setTimeout(r, 1000));
      const killedAt = Date.now();
      expect(await lab.kill('lb1')).toBe(true);
      await waitSelector(page, `${nodeRow('lb2', 'MASTER')}[data-self="true"]`, 'lb2 shown as MASTER', 10_000);
      const shownMs = Date.now() - killedAt;
      await waitSelector(page, '[data-testid="vip"][data-holder="lb2"]', 'the VIP held by lb2', 5000);
      await waitSelector(page, '[data-testid="failover-event"][data-kind="takeover"][data-node="lb2"]', 'the takeover timeline', 5000);
      await waitSelector(page, '[data-testid="node-row"][data-node="lb1"]:not([data-state="MASTER"])', 'lb1 no longer shown as MASTER', 5000);
      expect(await page.evaluate('window.haloNoReload')).toBe(42);
      expect(loads).toBe(1);
      await page
        .waitForFunction('Number(document.querySelector(\'[data-testid="chart-rps-value"]\').textContent) > 0', undefined, { timeout: 10_000 })
        .catch(async () => {
          throw new Error(`lb2's requests/s never rose above 0 on the chart (shown: ${String(await page.textContent('[data-testid="chart-rps-value"]'))})`);
        });
      // A few more samples so the chart shows the step; the screenshot is the artifact a human looks at.
      await page.waitForTimeout(3000);
      mkdirSync(ARTIFACTS, { recursive: true });
      const shot = join(ARTIFACTS, 'dashboard-failover.png');
      await page.screenshot({ path: shot, fullPage: true });
      console.log(`dashboard: lb2 shown as MASTER ${shownMs} ms after the SIGKILL of lb1; screenshot: ${shot}`);
      expect(errors).toEqual([]);
    } finally {
      stopProbe.abort();
      await probe?.catch(() => undefined);
      await page.close();
    }
  }, 60_000);
});
