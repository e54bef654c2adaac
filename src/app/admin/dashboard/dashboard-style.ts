/**
 * The dashboard's stylesheet, inlined into the page (no external URL). Neutral dark by
 * default, light when the browser asks for it; laid out for 1280x800 and narrower. The
 * page's CSP allows this exact text by hash, so no style="" attributes anywhere.
 */
export const DASHBOARD_STYLE = String.raw`
:root {
  --bg: #15181d; --panel: #1d2128; --line: #2c323c; --text: #d9dee5; --muted: #8b94a3;
  --master: #3fb950; --backup: #4d9de0; --fault: #f85149; --warn: #d29922; --unknown: #6e7681;
  --chart1: #4d9de0; --chart2: #d29922;
  color-scheme: dark;
}
@media (prefers-color-scheme: light) {
  :root {
    --bg: #f4f5f7; --panel: #ffffff; --line: #d8dce2; --text: #1f2328; --muted: #5d6673;
    --master: #1a7f37; --backup: #0969da; --fault: #cf222e; --warn: #9a6700; --unknown: #8c959f;
    --chart1: #0969da; --chart2: #9a6700;
    color-scheme: light;
  }
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
html, body { margin: 0; background: var(--bg); color: var(--text); }
body { font: 13px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
header { display: flex; align-items: baseline; gap: 14px; padding: 10px 18px; border-bottom: 1px solid var(--line); }
header h1 { margin: 0; font-size: 18px; letter-spacing: 0.5px; }
header .node { font-size: 16px; font-weight: 600; }
header .meta { color: var(--muted); }
header .spacer { flex: 1; }
.pill { padding: 2px 10px; border-radius: 999px; border: 1px solid var(--line); font-size: 12px; }
.pill[data-conn="live"] { color: var(--master); border-color: var(--master); }
.pill[data-conn="disconnected"], .pill[data-conn="unauthorized"] { color: var(--fault); border-color: var(--fault); }
.banner { padding: 10px 18px; background: var(--fault); color: #fff; font-weight: 600; }
.banner[data-kind="unauthorized"] { background: var(--warn); }
main { display: grid; grid-template-columns: repeat(12, minmax(0, 1fr)); gap: 12px; padding: 12px 18px 18px; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; min-width: 0; }
.panel h2 { margin: 0 0 8px; font-size: 12px; font-weight: 600; text-transform: uppercase; letter-spacing: 0.8px; color: var(--muted); display: flex; gap: 8px; }
.panel h2 .note { text-transform: none; letter-spacing: 0; font-weight: 400; }
.span4 { grid-column: span 4; } .span5 { grid-column: span 5; } .span6 { grid-column: span 6; }
.span7 { grid-column: span 7; } .span8 { grid-column: span 8; } .span12 { grid-column: span 12; }
@media (max-width: 1000px) { .span4, .span5, .span6, .span7, .span8 { grid-column: span 12; } }
table { width: 100%; border-collapse: collapse; }
th { text-align: left; font-weight: 500; color: var(--muted); font-size: 12px; padding: 3px 6px; border-bottom: 1px solid var(--line); }
td { padding: 4px 6px; border-bottom: 1px solid var(--line); vertical-align: top; }
tr:last-child td { border-bottom: none; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: var(--muted); }
.empty { color: var(--muted); font-style: italic; padding: 4px 0; }
.state { display: inline-block; min-width: 68px; text-align: center; padding: 1px 8px; border-radius: 4px; font-weight: 700; font-size: 12px; color: #fff; background: var(--unknown); }
.state[data-state="MASTER"] { background: var(--master); }
.state[data-state="BACKUP"] { background: var(--backup); }
.state[data-state="FAULT"] { background: var(--fault); }
.state[data-state="LEAVING"] { background: var(--warn); }
.dot { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 6px; background: var(--unknown); }
.dot[data-up="true"] { background: var(--master); }
.dot[data-up="false"] { background: var(--fault); }
.self { font-size: 11px; color: var(--muted); margin-left: 6px; }
ul.plain, ol.plain { list-style: none; margin: 0; padding: 0; }
.vip { display: flex; justify-content: space-between; gap: 8px; padding: 4px 0; border-bottom: 1px solid var(--line); }
.vip:last-child { border-bottom: none; }
.vip .addr { font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; }
.chart .title { display: flex; justify-content: space-between; font-size: 12px; color: var(--muted); }
.chart .value { color: var(--text); font-weight: 600; font-variant-numeric: tabular-nums; }
.chart svg { width: 100%; height: 110px; display: block; }
.chart .axis { display: flex; justify-content: space-between; font-size: 11px; color: var(--muted); }
.failover { padding: 6px 0; border-bottom: 1px solid var(--line); }
.failover:last-child { border-bottom: none; }
.failover .head { display: flex; gap: 8px; align-items: baseline; flex-wrap: wrap; }
.failover .time { font-family: ui-monospace, "DejaVu Sans Mono", monospace; color: var(--muted); font-size: 12px; }
.failover .cause { color: var(--muted); overflow-wrap: anywhere; }
.failover .degraded { color: var(--warn); font-weight: 600; }
.steps { display: flex; gap: 14px; margin-top: 3px; font-size: 12px; font-variant-numeric: tabular-nums; }
.steps b { font-weight: 600; }
.bar { position: relative; height: 6px; background: var(--line); border-radius: 3px; margin-top: 4px; }
.bar span { position: absolute; top: -2px; width: 3px; height: 10px; border-radius: 1px; }
.bar .detected { background: var(--warn); } .bar .vip { background: var(--backup); } .bar .garp { background: var(--master); }
.service { margin-bottom: 10px; }
.service:last-child { margin-bottom: 0; }
.service .head { display: flex; gap: 10px; align-items: baseline; margin-bottom: 4px; }
.service .name { font-weight: 600; }
.kv { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin-bottom: 6px; }
.kv dt { color: var(--muted); } .kv dd { margin: 0; }
.log { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; max-height: 260px; overflow-y: auto; white-space: pre-wrap; overflow-wrap: anywhere; }
.log .line { padding: 1px 0; }
.log .t { color: var(--muted); } .log .n { color: var(--backup); }
.log .line[data-level="warn"] .m { color: var(--warn); }
.log .line[data-level="error"] .m { color: var(--fault); }
.log .f { color: var(--muted); }
`;
