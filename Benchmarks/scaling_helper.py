#!/usr/bin/env python3
"""The scaling benchmark's figures (Benchmarks/scaling-benchmark.sh): python3, standard library only.

    scaling_helper.py summarise --runs RUNS.jsonl --json-out FILE --svg-out FILE [--command ...] ...
    scaling_helper.py plot --json FILE [--json FILE...] --svg-out FILE [--subtitle TEXT]
                                          (one plot of the series of one or more reports)

RUNS.jsonl has one line per agent, written by the script when the agent's process exits: mode,
agents (N), round, index, commit, launched and exited (epoch seconds), exit_status and the path of
the run's `--json` events. `summarise` reads each run's events, splits its time to verdict into
phases, prints a Markdown table (with the command that produced it), writes the JSON report and
draws the SVG. It exits 1 when any run did not pass: a failed run is listed, never averaged in.
"""

import argparse
import datetime
import json
import math
import os
import statistics
import sys

# Where an agent's time goes, in order. Each is a span between two of the run's own events (or the
# launch and exit of its process, timed by the script); "other" is what is left of the time to
# verdict: the scheduler's gaps between stages, the audit trail, cache limits, the history's commit
# and the process's exit.
PHASES = [
    ("startup", "start-up", "launch → run-started: the process starts and reads the definition"),
    ("preflight", "preflight", "run-started → queued or checkout: the cache, the daemon's session"),
    ("queue", "queue", "queued → checkout: waiting for one of the cache's --max-runs slots"),
    ("checkout", "checkout", "the checkout stage: fetch into the mirror, snapshot the tree"),
    ("eval", "nix eval, wait", "the image stage until nix says `building '…drv'`: evaluation, store locks"
                               " and, with remote builders, waiting for a free builder slot and connecting"),
    ("build", "nix build", "the image stage from `building '…drv'` on: the build (and copies to and from a remote builder)"),
    ("load", "load", "the load stage: the image into the daemon"),
    ("smoke", "smoke", "the smoke stage: a container, the probe, its removal"),
    ("other", "other", "the rest: gaps between stages, wrap-up, the process's exit"),
]
PHASE_COLOURS = {
    "startup": "#9e9e9e", "preflight": "#bdbdbd", "queue": "#e57373", "checkout": "#ffb74d",
    "eval": "#9ecae1", "build": "#4f81bd", "load": "#81c784", "smoke": "#ba68c8", "other": "#d7ccc8",
}
# One colour per series (a mode at one --max-runs), in the order the reports list them.
SERIES_COLOURS = ["#4f81bd", "#e07b39", "#59a14f", "#b07aa1"]


def epoch(rfc3339):
    """Epoch seconds of an event's `time` (RFC 3339, UTC, milliseconds)."""
    stamp = datetime.datetime.strptime(rfc3339[:23], "%Y-%m-%dT%H:%M:%S.%f")
    return stamp.replace(tzinfo=datetime.timezone.utc).timestamp()


def read_events(path):
    """The whole JSON lines of a run's events (a line cut short is skipped)."""
    events = []
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    events.append(json.loads(line))
                except ValueError:
                    continue
    except OSError:
        pass
    return events


def tail(path, lines=3):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return " | ".join(line.strip() for line in handle.readlines()[-lines:] if line.strip())
    except OSError:
        return ""


def analyse(run):
    """One agent's verdict, time to verdict and phases (seconds), or why it did not pass."""
    events = read_events(run["events"])
    result = {key: run[key] for key in ("mode", "agents", "round", "index", "commit", "exit_status")}
    result["time_to_verdict_s"] = run["exited"] - run["launched"]
    summary = next((e for e in reversed(events) if e.get("event") == "run-finished"), None)
    result["verdict"] = summary.get("status") if summary else None
    if summary is None or summary.get("status") != "passed" or run["exit_status"] != 0:
        reasons = []
        if summary is None:
            reasons.append("no run-finished event")
        else:
            if summary.get("environment_problem"):
                reasons.append(summary["environment_problem"])
            for stage in summary.get("stages", []):
                if stage.get("status") not in ("passed", None):
                    reasons.append(f"{stage.get('name')}: {stage.get('status')} {stage.get('error') or ''}".strip())
        reasons.append(f"exit {run['exit_status']}")
        stderr = tail(run["events"] + ".err")
        if stderr:
            reasons.append(stderr)
        result["passed"] = False
        result["why"] = "; ".join(reasons)[:600]
        return result
    result["passed"] = True
    result["run"] = summary.get("run")

    def first(event, stage=None):
        for e in events:
            if e.get("event") == event and (stage is None or e.get("stage") == stage):
                return epoch(e["time"])
        return None

    started = first("run-started")
    queued = first("queued")
    stage_span = {}
    for stage in ("checkout", "image", "load", "smoke"):
        begin, end = first("stage-started", stage), first("stage-finished", stage)
        stage_span[stage] = (begin, end)
    checkout_start = stage_span["checkout"][0]
    phases = {"startup": started - run["launched"]}
    if queued is not None:
        phases["preflight"] = queued - started
        phases["queue"] = checkout_start - queued
    else:
        phases["preflight"] = checkout_start - started
        phases["queue"] = 0.0
    for phase, stage in (("checkout", "checkout"), ("build", "image"), ("load", "load"), ("smoke", "smoke")):
        begin, end = stage_span[stage]
        phases[phase] = (end - begin) if begin is not None and end is not None else 0.0
    # nix's "building '/nix/store/…drv'…" (with " on 'URI'" when a remote builder took it) splits
    # the image stage into what came before the build and the build itself.
    building = next((e for e in events if e.get("event") == "log" and e.get("stage") == "image"
                     and str(e.get("line", "")).startswith("building '")), None)
    if building is not None and stage_span["image"][0] is not None:
        phases["eval"] = epoch(building["time"]) - stage_span["image"][0]
        phases["build"] -= phases["eval"]
        line = building["line"]
        result["built_on"] = line.split(" on '", 1)[1].split("'", 1)[0] if " on '" in line else "local"
    else:
        phases["eval"] = 0.0
        result["built_on"] = None  # nothing built: substituted or already in the store
    phases["other"] = result["time_to_verdict_s"] - sum(phases.values())
    phases = {key: phases[key] for key, _, _ in PHASES}
    result["phases_s"] = phases
    result["stage_waits"] = [{"stage": e.get("stage"), "reason": e.get("reason")}
                             for e in events if e.get("event") == "stage-waiting"]
    stages = {s.get("name"): s for s in summary.get("stages", [])}
    result["image_cached"] = stages.get("image", {}).get("cached")
    return result


def percentile(values, fraction):
    """Nearest-rank percentile: the smallest value with at least `fraction` of them at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def summarise_level(mode, agents, runs, results, series):
    level_runs = [r for r in runs if r["mode"] == mode and r["agents"] == agents]
    level = [r for r in results if r["mode"] == mode and r["agents"] == agents]
    passed = [r for r in level if r["passed"]]
    rounds = sorted({r["round"] for r in level_runs})
    walls = []
    for number in rounds:
        these = [r for r in level_runs if r["round"] == number]
        walls.append(max(r["exited"] for r in these) - min(r["launched"] for r in these))
    row = {
        "series": series, "mode": mode, "agents": agents, "rounds": len(rounds), "runs": len(level), "passed": len(passed),
        "failed": [{"round": r["round"], "index": r["index"], "commit": r["commit"], "why": r["why"]}
                   for r in level if not r["passed"]],
        "round_wall_s": [round(w, 3) for w in walls],
        # Verdicts per minute over the rounds' wall time (first launch to last exit of each round).
        "throughput_per_min": round(len(passed) / sum(walls) * 60, 2) if walls and sum(walls) > 0 else None,
    }
    if passed:
        times = [r["time_to_verdict_s"] for r in passed]
        row["time_to_verdict_s"] = {"median": round(statistics.median(times), 3),
                                    "p95": round(percentile(times, 0.95), 3),
                                    "min": round(min(times), 3), "max": round(max(times), 3)}
        row["phases_mean_s"] = {key: round(statistics.mean(r["phases_s"][key] for r in passed), 3)
                                for key, _, _ in PHASES}
        row["queued_runs"] = sum(1 for r in passed if r["phases_s"]["queue"] > 0)
        row["stage_waits"] = sum(len(r["stage_waits"]) for r in passed)
        row["builds_cached"] = sum(1 for r in passed if r.get("image_cached"))
        # Where nix said it built each run's image: "local", a builder's URI, or none (not built).
        row["built_on"] = {}
        for r in passed:
            where = r.get("built_on") or "not built"
            row["built_on"][where] = row["built_on"].get(where, 0) + 1
    return row


def seconds(value):
    return "—" if value is None else f"{value:.2f} s"


def print_table(report):
    print(f"`{report['command']}`")
    print()
    header = ["series", "N", "passed", "verdicts/min", "median", "p95"] + [label for _, label, _ in PHASES] + ["lock waits", "built on"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    for row in report["levels"]:
        ttv = row.get("time_to_verdict_s", {})
        phases = row.get("phases_mean_s", {})
        cells = [row["series"], str(row["agents"]), f"{row['passed']}/{row['runs']}",
                 "—" if row["throughput_per_min"] is None else f"{row['throughput_per_min']:.1f}",
                 seconds(ttv.get("median")), seconds(ttv.get("p95"))]
        cells += [seconds(phases.get(key)) for key, _, _ in PHASES]
        cells.append(str(row.get("stage_waits", "—")))
        cells.append(", ".join(f"{where} ×{count}" for where, count in row.get("built_on", {}).items()) or "—")
        print("| " + " | ".join(cells) + " |")
    print()
    print("Phases are means over the passed runs of each N (seconds of an agent's time to verdict);"
          " p95 is nearest-rank over all runs of that N.")
    for row in report["levels"]:
        for failure in row["failed"]:
            print(f"FAILED: {row['series']} N={row['agents']} round {failure['round']} agent {failure['index']}"
                  f" ({failure['commit'][:12]}): {failure['why']}")


# --- the plot ------------------------------------------------------------------------------------

def esc(text):
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def nice_ceiling(value):
    """A round axis maximum at or above `value` (1, 2, 2.5 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def axis_ticks(maximum, count=5):
    return [maximum * i / count for i in range(count + 1)]


def tick_label(value):
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


def svg_panel(x0, y0, width, height, title, ylabel, xlabels, ymax):
    """The frame, gridlines and labels of one panel; returns its parts and the x/y mappers."""
    parts = [f'<text x="{x0 + width / 2}" y="{y0 - 12}" text-anchor="middle" font-weight="bold">{esc(title)}</text>']
    for tick in axis_ticks(ymax):
        y = y0 + height - tick / ymax * height
        parts.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + width}" y2="{y:.1f}" stroke="#e0e0e0"/>')
        parts.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end">{tick_label(tick)}</text>')
    parts.append(f'<line x1="{x0}" y1="{y0 + height}" x2="{x0 + width}" y2="{y0 + height}" stroke="#333"/>')
    parts.append(f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y0 + height}" stroke="#333"/>')
    parts.append(f'<text x="{x0 - 38}" y="{y0 + height / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 {x0 - 38} {y0 + height / 2})">{esc(ylabel)}</text>')
    slot = width / max(1, len(xlabels))

    def x_of(i):
        return x0 + slot * (i + 0.5)

    for i, label in enumerate(xlabels):
        parts.append(f'<text x="{x_of(i):.1f}" y="{y0 + height + 16}" text-anchor="middle">{esc(label)}</text>')
    parts.append(f'<text x="{x0 + width / 2}" y="{y0 + height + 34}" text-anchor="middle">agents at once (N)</text>')

    def y_of(value):
        return y0 + height - value / ymax * height

    return parts, x_of, y_of, slot


def draw_svg(report, path):
    """Three panels: throughput, median and p95 time to verdict, and the mean phases stacked, each
    with one line (or bar) per series of `report["levels"]`."""
    levels = [row for row in report["levels"] if row.get("time_to_verdict_s")]
    names = list(dict.fromkeys(r["series"] for r in levels))
    colours = {name: SERIES_COLOURS[i % len(SERIES_COLOURS)] for i, name in enumerate(names)}
    agents = sorted({r["agents"] for r in levels})
    xlabels = [str(n) for n in agents]
    by = {(r["series"], r["agents"]): r for r in levels}
    width, height, top, panel_h, panel_w = 1200, 480, 60, 280, 300
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">'
             f'{esc(report["title"])}</text>',
             f'<text x="{width / 2}" y="40" text-anchor="middle" fill="#555">{esc(report["subtitle"])}</text>']

    def legend_entry(x, y, colour, label, dashed=False):
        dash = ' stroke-dasharray="5,3"' if dashed else ""
        return (f'<line x1="{x}" y1="{y}" x2="{x + 18}" y2="{y}" stroke="{colour}" stroke-width="2.5"{dash}/>'
                f'<text x="{x + 22}" y="{y + 4}">{esc(label)}</text>')

    # 1. Throughput.
    ymax = nice_ceiling(max(r["throughput_per_min"] for r in levels) * 1.1)
    panel, x_of, y_of, _ = svg_panel(70, top + 20, panel_w, panel_h, "Throughput", "verdicts per minute", xlabels, ymax)
    parts += panel
    for m, name in enumerate(names):
        points = [(x_of(i), y_of(by[(name, n)]["throughput_per_min"])) for i, n in enumerate(agents) if (name, n) in by]
        colour = colours[name]
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2.5" points="'
                     + " ".join(f"{x:.1f},{y:.1f}" for x, y in points) + '"/>')
        parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"/>' for x, y in points]
        parts.append(legend_entry(90, top + 34 + 16 * m, colour, name))

    # 2. Time to verdict.
    ymax = nice_ceiling(max(r["time_to_verdict_s"]["p95"] for r in levels) * 1.1)
    panel, x_of, y_of, _ = svg_panel(470, top + 20, panel_w, panel_h, "Time to verdict", "seconds", xlabels, ymax)
    parts += panel
    for m, name in enumerate(names):
        colour = colours[name]
        for key, dashed in (("median", False), ("p95", True)):
            points = [(x_of(i), y_of(by[(name, n)]["time_to_verdict_s"][key])) for i, n in enumerate(agents) if (name, n) in by]
            dash = ' stroke-dasharray="5,3"' if dashed else ""
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2.5"{dash} points="'
                         + " ".join(f"{x:.1f},{y:.1f}" for x, y in points) + '"/>')
            parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in points]
        parts.append(legend_entry(490, top + 34 + 16 * m, colour, name))
    parts.append(legend_entry(490, top + 34 + 16 * len(names), "#555", "solid: median; dashed: p95", dashed=True))

    # 3. Where the time goes: stacked mean phases, one bar per series side by side.
    ymax = nice_ceiling(max(sum(r["phases_mean_s"].values()) for r in levels) * 1.05)
    panel, x_of, y_of, slot = svg_panel(870, top + 20, panel_w, panel_h, "Where an agent's time goes (mean)",
                                        "seconds", xlabels, ymax)
    parts += panel
    bar = min(36, slot * 0.8 / max(1, len(names)))
    for i, n in enumerate(agents):
        for m, name in enumerate(names):
            row = by.get((name, n))
            if row is None:
                continue
            x = x_of(i) - bar * len(names) / 2 + bar * m
            bottom = 0.0
            for key, label, _ in PHASES:
                value = max(0.0, row["phases_mean_s"][key])
                if value <= 0:
                    continue
                y_top, y_bottom = y_of(bottom + value), y_of(bottom)
                parts.append(f'<rect x="{x:.1f}" y="{y_top:.1f}" width="{bar - 2:.1f}" height="{y_bottom - y_top:.1f}" '
                             f'fill="{PHASE_COLOURS[key]}"><title>{esc(name)} N={n} {esc(label)}: {value:.2f} s</title></rect>')
                bottom += value
            if len(names) > 1:
                parts.append(f'<text x="{x + bar / 2 - 1:.1f}" y="{y_of(bottom) - 3:.1f}" text-anchor="middle" '
                             f'font-size="9" fill="{colours[name]}">{m + 1}</text>')
    legend_y = top + panel_h + 80
    legend_x = 70
    for key, label, _ in PHASES:
        parts.append(f'<rect x="{legend_x}" y="{legend_y - 9}" width="12" height="12" fill="{PHASE_COLOURS[key]}"/>'
                     f'<text x="{legend_x + 16}" y="{legend_y + 1}">{esc(label)}</text>')
        legend_x += 22 + 7.5 * len(label) + 20
    if len(names) > 1:
        parts.append(f'<text x="70" y="{legend_y + 22}" fill="#555">bars (numbered), left to right: '
                     + esc("; ".join(f"{i + 1} = {name}" for i, name in enumerate(names))) + '</text>')
    parts.append("</svg>")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(parts) + "\n")


def rounded(value):
    """`value` with every float rounded to milliseconds (the events' own precision)."""
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [rounded(item) for item in value]
    return value


def summarise(args):
    runs = []
    with open(args.runs, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                runs.append(json.loads(line))
    warm = [r for r in runs if r["agents"] == 0]
    runs = [r for r in runs if r["agents"] > 0]
    results = [analyse(run) for run in runs]
    modes = [m for m in ("local", "remote") if any(r["mode"] == m for r in runs)]
    levels = [summarise_level(mode, n, runs, results, mode + args.series_suffix)
              for mode in modes for n in sorted({r["agents"] for r in runs if r["mode"] == mode})]
    report = {
        "benchmark": "scaling",
        "command": args.command,
        "title": "Sutradhar: N agents at once on N commits of the held-in example, one cache",
        "subtitle": (f"{args.cpus} CPUs, load average {args.load_start} at start; "
                     f"--max-runs {args.max_runs}; {args.started}; commit {args.repo_commit}"),
        "machine": {"cpus": int(args.cpus), "load_average_start": args.load_start, "load_average_end": args.load_end,
                    "max_runs": args.max_runs},
        "binary": args.binary, "version": args.version, "repo_commit": args.repo_commit, "started": args.started,
        "phases": [{"key": key, "label": label, "means": means} for key, label, means in PHASES],
        # How the remote builder was given: the definition's `builders:`/`max-jobs:` fields, or nix's
        # own settings through `options:` (a binary without those fields).
        "remote": ({"builder": args.builder, "given_as": args.remote_form,
                    "remote_store_has_images": args.remote_store_check or None} if "remote" in modes else None),
        "warm_up_s": {r["mode"]: round(r["exited"] - r["launched"], 3) for r in warm},
        "levels": levels,
        "runs": [rounded(r) for r in results],
    }
    with open(args.json_out, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2)
        handle.write("\n")
    print_table(report)
    if any(row.get("time_to_verdict_s") for row in levels):
        draw_svg(report, args.svg_out)
    failed = sum(len(row["failed"]) for row in levels)
    if failed:
        print(f"{failed} run(s) did not pass: listed above, left out of every figure", file=sys.stderr)
        return 1
    return 0


def plot(args):
    """One plot of the series of several reports (e.g. local builds at two --max-runs, and
    remote builds), drawn in the order given; the first report's title is kept."""
    reports = []
    for path in args.json:
        with open(path, encoding="utf-8") as handle:
            reports.append(json.load(handle))
    merged = dict(reports[0])
    merged["levels"] = [row for report in reports for row in report["levels"]]
    if args.subtitle:
        merged["subtitle"] = args.subtitle
    draw_svg(merged, args.svg_out)
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command_name", required=True)
    s = commands.add_parser("summarise")
    s.add_argument("--runs", required=True)
    s.add_argument("--json-out", required=True)
    s.add_argument("--svg-out", required=True)
    for name in ("command", "binary", "version", "repo-commit", "started", "load-start", "load-end", "max-runs",
                 "builder", "remote-form", "remote-store-check"):
        s.add_argument(f"--{name}", default="")
    s.add_argument("--cpus", default=str(os.cpu_count()))
    s.add_argument("--series-suffix", default="", help="added to the mode in each row's series name")
    p = commands.add_parser("plot")
    p.add_argument("--json", required=True, action="append", help="a report; repeat to draw several")
    p.add_argument("--subtitle", default="")
    p.add_argument("--svg-out", required=True)
    args = parser.parse_args()
    return summarise(args) if args.command_name == "summarise" else plot(args)


if __name__ == "__main__":
    sys.exit(main())
