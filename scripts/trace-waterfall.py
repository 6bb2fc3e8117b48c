#!/usr/bin/env python3
"""Draws one trace received by Tests/TracingTests/Receiver/otlp_receiver.py as an SVG waterfall.

Usage: scripts/trace-waterfall.py SPANS.jsonl [TRACE_ID] > trace.svg
One row per span, indented under its parent, a bar from its start to its end on a shared time
axis, red when its status is error. With no TRACE_ID, the trace of the last root span received.
Standard library only; every text is XML-escaped.
"""
import json, sys
from xml.sax.saxutils import escape

spans = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
roots = [s for s in spans if not s["parent_span_id"]]
trace = sys.argv[2] if len(sys.argv) > 2 else roots[-1]["trace_id"]
spans = [s for s in spans if s["trace_id"] == trace]
children = {}
for span in spans:
    children.setdefault(span["parent_span_id"], []).append(span)
ids = {s["span_id"] for s in spans}
rows = []


def walk(span, depth):
    rows.append((span, depth))
    for child in sorted(children.get(span["span_id"], []), key=lambda s: (s["start_ns"], s["name"])):
        walk(child, depth + 1)


for top in sorted((s for s in spans if s["parent_span_id"] not in ids), key=lambda s: s["start_ns"]):
    walk(top, 0)
start = min(s["start_ns"] for s in spans)
end = max(s["end_ns"] for s in spans)
total_ms = max((end - start) / 1e6, 1)
label_width, bar_width, row_height = 260, 640, 22
height = 40 + row_height * len(rows) + 30


def x(ns):
    return label_width + (ns - start) / 1e6 / total_ms * bar_width


out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_width + bar_width + 90}" height="{height}" '
       f'font-family="sans-serif" font-size="12">',
       f'<rect width="100%" height="100%" fill="white"/>',
       f'<text x="8" y="20" font-weight="bold">trace {escape(trace)}: {len(rows)} spans, {total_ms:.0f} ms</text>']
for fraction in (0, 0.25, 0.5, 0.75, 1):
    tx = label_width + fraction * bar_width
    out.append(f'<line x1="{tx:.1f}" y1="34" x2="{tx:.1f}" y2="{height - 24}" stroke="#ddd"/>')
    out.append(f'<text x="{tx:.1f}" y="{height - 8}" text-anchor="middle" fill="#555">{fraction * total_ms:.0f} ms</text>')
for index, (span, depth) in enumerate(rows):
    y = 40 + index * row_height
    left, right = x(span["start_ns"]), x(span["end_ns"])
    colour = "#c0392b" if span["status"] == 2 else ("#2c6fbb" if depth == 0 else "#5b9bd5" if depth == 1 else "#9cc3e6")
    duration = (span["end_ns"] - span["start_ns"]) / 1e6
    out.append(f'<text x="{8 + depth * 14}" y="{y + 14}">{escape(span["name"])}</text>')
    out.append(f'<rect x="{left:.1f}" y="{y + 3}" width="{max(right - left, 1):.1f}" height="{row_height - 6}" fill="{colour}"/>')
    out.append(f'<text x="{max(right, left + 1) + 4:.1f}" y="{y + 14}" fill="#555">{duration:.0f} ms</text>')
out.append("</svg>")
print("\n".join(out))
