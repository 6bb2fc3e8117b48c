import Hummingbird

/// The stylesheet and the live-update script, served by the binary itself (the machines are
/// offline: no CDN, no external font).
public enum AssetRoutes {
    /// Registers `/assets/style.css` and `/assets/live.js`.
    public static func register(on router: Router<DashboardRequestContext>) {
        router.get("/assets/style.css") { _, _ in asset(stylesheet, type: "text/css; charset=utf-8") }
        router.get("/assets/live.js") { _, _ in asset(liveScript, type: "text/javascript; charset=utf-8") }
    }

    private static func asset(_ text: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type, .cacheControl: "max-age=300"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// Light by default, dark when the browser prefers it; status colours always beside a word.
    public static let stylesheet = """
        :root { --bg: #fbfbfa; --fg: #1d1f21; --muted: #5f6368; --line: #d9dadc; --panel: #f1f2f3; --link: #0b57d0;
          --passed: #1e7d32; --failed: #b3261e; --running: #0b57d0; --cancelled: #7a5d00; --abandoned: #6b4f9e; --skipped: #5f6368;
          --wait: #e0a100; --queued: #9aa0a6; --cached: #4e8f6a; color-scheme: light dark; }
        @media (prefers-color-scheme: dark) {
          :root { --bg: #15171a; --fg: #e6e6e6; --muted: #a0a4a8; --line: #33373c; --panel: #1e2125; --link: #8ab4f8;
            --passed: #6dd58c; --failed: #f28b82; --running: #8ab4f8; --cancelled: #fdd663; --abandoned: #c58af9; --skipped: #a0a4a8;
            --wait: #fdd663; --queued: #5f6368; --cached: #81c995; }
        }
        * { box-sizing: border-box; }
        body { margin: 0; background: var(--bg); color: var(--fg); font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
        a { color: var(--link); }
        header { display: flex; gap: 2rem; align-items: baseline; padding: .8rem 1.5rem; border-bottom: 1px solid var(--line); background: var(--panel); }
        header .brand { font-weight: 700; text-decoration: none; color: var(--fg); }
        nav a { text-decoration: none; padding: .1rem .3rem; }
        nav a[aria-current="page"] { font-weight: 700; text-decoration: underline; }
        main { padding: 1rem 1.5rem 3rem; max-width: 1200px; }
        h1 { font-size: 1.4rem; margin: .4rem 0 1rem; }
        h2 { font-size: 1.1rem; margin: 1.6rem 0 .6rem; }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { font-weight: 600; color: var(--muted); font-size: .85rem; }
        td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; }
        code, pre, .mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .85rem; }
        .subject { color: var(--muted); }
        /* A commit's subject beside its id: one line, cut short (the whole of it in its title). */
        td .subject, .facts .subject { display: inline-block; max-width: 24em; overflow: hidden; text-overflow: ellipsis;
          white-space: nowrap; vertical-align: bottom; }
        .badge { display: inline-block; min-width: 5.5em; text-align: center; padding: .05rem .5rem; border-radius: 1rem;
          font-size: .8rem; font-weight: 600; border: 1px solid currentColor; }
        .status-passed { color: var(--passed); } .status-failed { color: var(--failed); } .status-running { color: var(--running); }
        .status-cancelled { color: var(--cancelled); } .status-abandoned { color: var(--abandoned); } .status-skipped { color: var(--skipped); }
        .status-waiting, .status-queued { color: var(--wait); }
        form.filters { display: flex; gap: .8rem; flex-wrap: wrap; align-items: end; margin-bottom: 1rem; }
        form.filters label { display: flex; flex-direction: column; font-size: .8rem; color: var(--muted); }
        select, input, button { font: inherit; padding: .2rem .4rem; background: var(--bg); color: var(--fg); border: 1px solid var(--line); border-radius: .25rem; }
        button { cursor: pointer; background: var(--panel); }
        .pager { display: flex; gap: 1rem; margin-top: .8rem; }
        .verdict { display: flex; gap: 1rem; align-items: center; flex-wrap: wrap; }
        .facts { color: var(--muted); overflow-wrap: anywhere; }
        .error { color: var(--failed); white-space: pre-wrap; }
        details { border: 1px solid var(--line); border-radius: .3rem; margin: .4rem 0; background: var(--panel); }
        details > summary { cursor: pointer; padding: .3rem .6rem; }
        details pre { margin: 0; padding: .5rem .7rem; max-height: 30rem; overflow: auto; white-space: pre-wrap; word-break: break-all; background: var(--bg); }
        .triggers { display: flex; gap: .6rem; margin: .6rem 0; }
        svg.gantt { width: 100%; height: auto; background: var(--panel); border: 1px solid var(--line); border-radius: .3rem; }
        svg.gantt text { fill: var(--fg); font: 12px system-ui, sans-serif; }
        svg.gantt .axis { stroke: var(--line); }
        svg.gantt .bar { fill: var(--running); }
        svg.gantt .bar.passed { fill: var(--passed); } svg.gantt .bar.failed { fill: var(--failed); }
        svg.gantt .bar.cancelled, svg.gantt .bar.skipped { fill: var(--skipped); }
        svg.gantt .bar.cached { fill: var(--cached); fill-opacity: .55; stroke: var(--cached); stroke-dasharray: 3 2; }
        svg.gantt .wait { fill: var(--wait); fill-opacity: .8; } svg.gantt .queued { fill: var(--queued); fill-opacity: .6; }
        .legend { color: var(--muted); font-size: .8rem; }
        dl.outputs { margin: 0; display: grid; grid-template-columns: max-content 1fr; gap: .1rem .6rem; font-size: .85rem; }
        dl.outputs dt { color: var(--muted); } dl.outputs dd { margin: 0; min-width: 0; word-break: break-all; }
        /* The run page fits its window (1280 px and less): the stage table's columns are laid out
           from the header, so a long output (a store path, a cache key) wraps in its cell instead
           of widening the table, and the audit trail wraps like the logs. */
        table#stages { table-layout: fixed; }
        table#stages th:nth-child(1) { width: 11rem; } table#stages th:nth-child(2) { width: 7rem; }
        table#stages th:nth-child(3) { width: 8rem; } table#stages th:nth-child(4) { width: 6rem; }
        table#stages td { overflow-wrap: anywhere; }
        pre#audit { white-space: pre-wrap; word-break: break-all; }
        """

    /// The one script: follows the server-sent events the page names in `data-live` and swaps in
    /// the fragments they carry (rows of the runs table, the run's summary) or appends log lines
    /// (as text, never as markup). Without it every page still works; it only saves reloads.
    public static let liveScript = #"""
        "use strict";
        (function () {
          const url = document.body.dataset.live;
          if (!url || !window.EventSource) return;
          const events = new EventSource(url);
          const seen = new Map();
          function logBlock(stage) {
            const key = CSS.escape(stage);
            let pre = document.querySelector('pre[data-log-stage="' + key + '"]');
            if (pre) return pre;
            const logs = document.getElementById("logs");
            if (!logs) return null;
            const details = document.createElement("details");
            details.open = true;
            const summary = document.createElement("summary");
            summary.textContent = stage;
            pre = document.createElement("pre");
            pre.dataset.logStage = stage;
            pre.dataset.lines = "0";
            details.append(summary, pre);
            logs.append(details);
            return pre;
          }
          events.addEventListener("rows", function (event) {
            const rows = document.querySelector("#runs tbody");
            if (rows) rows.innerHTML = event.data;
          });
          events.addEventListener("summary", function (event) {
            const summary = document.getElementById("summary");
            if (summary) summary.innerHTML = event.data;
          });
          events.addEventListener("log", function (event) {
            const message = JSON.parse(event.data);
            const pre = logBlock(message.stage);
            if (!pre) return;
            // The page already shows the first data-lines lines of this log; the stream replays from the first.
            const count = (seen.get(message.stage) || 0) + 1;
            seen.set(message.stage, count);
            if (count <= Number(pre.dataset.lines || 0)) return;
            const follow = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
            pre.append(document.createTextNode(message.line + "\n"));
            if (follow) pre.scrollTop = pre.scrollHeight;
          });
          events.addEventListener("done", function () { events.close(); });
        })();
        """#
}
