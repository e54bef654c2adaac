import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DASHBOARD_TEST_IDS, dashboardPage, dashboardScript } from './dashboard-page.js';
import { DASHBOARD_STYLE } from './dashboard-style.js';

const sha = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

describe('dashboardPage', () => {
  const { html, csp } = dashboardPage();

  it('is one self-contained document: no external URL, no framework, one inline script and stylesheet', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    // The only absolute URL allowed is the SVG namespace, which is a name, not a fetch.
    const urls = (html.match(/\b(?:https?|wss?):\/\/[^\s'"<)]+/g) ?? []).filter((u) => u !== 'http://www.w3.org/2000/svg');
    expect(urls).toEqual([]);
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+stylesheet|@import/i);
    expect(html.match(/<script>/g)).toHaveLength(1);
    expect(html.match(/<style>/g)).toHaveLength(1);
    // A style="" attribute would be refused by the hash-only style-src.
    expect(html).not.toMatch(/\sstyle="/);
  });

  it('carries every data-testid the browser test and operators rely on', () => {
    for (const id of DASHBOARD_TEST_IDS) expect(html, id).toContain(`data-testid="${id}"`);
    const script = dashboardScript();
    for (const id of ['node-row', 'data-node', 'data-state', 'vip', 'data-holder', 'failover-event', 'backend', 'replication-peer', 'sync-lag', 'log-line', 'chart-']) expect(script, id).toContain(id);
  });

  it('its script parses as JavaScript and cannot end its own <script> element early', () => {
    const script = dashboardScript();
    // Compiles without running: a syntax slip in the string fails here, not only in a browser.
    expect(() => new Function(script)).not.toThrow();
    expect(script).not.toMatch(/<\/script|<!--/i);
    expect(DASHBOARD_STYLE).not.toMatch(/<\/style/i);
  });

  it('its CSP allows exactly the inline script and stylesheet (by hash), same-origin connections and nothing else', () => {
    const script = /<script>([\s\S]*)<\/script>/.exec(html)?.[1] ?? '';
    const style = /<style>([\s\S]*)<\/style>/.exec(html)?.[1] ?? '';
    expect(script).toBe(dashboardScript());
    const directives = Object.fromEntries(csp.split('; ').map((d) => [d.split(' ')[0], d.split(' ').slice(1).join(' ')]));
    expect(directives['default-src']).toBe("'none'");
    expect(directives['script-src']).toBe(sha(script));
    expect(directives['style-src']).toBe(sha(style));
    expect(directives['connect-src']).toBe("'self'");
    expect(directives['frame-ancestors']).toBe("'none'");
    expect(csp).not.toContain('unsafe');
  });

  it('never puts the token in a URL: WebSocket gets it as a subprotocol, fetch as a header', () => {
    const script = dashboardScript();
    expect(script).toContain("['bearer.' + base64url(token)]");
    expect(script).toContain("authorization: 'Bearer ' + token");
    expect(script).not.toMatch(/[?&]token=/);
    // Read from the fragment, then taken out of the address bar.
    expect(script).toContain('history.replaceState');
  });

  it('is built once', () => {
    expect(dashboardPage()).toBe(dashboardPage());
  });
});
