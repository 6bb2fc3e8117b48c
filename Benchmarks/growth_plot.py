"""Draws the growth benchmark's figures as an SVG line chart (Python's standard library only).

    FIGURES=growth.json Benchmarks/growth-benchmark.sh
    python3 Benchmarks/growth_plot.py growth.json Benchmarks/growth.svg

One line per command, page or tool: its p99 (ms) against the history's size (runs), both axes
logarithmic, so that a flat line is a cost that does not grow and a line rising one decade per
decade grows with the history. `cache gc` (one timing, in seconds) is left out.
"""

import json
import math
import sys
from xml.sax.saxutils import escape

figures_path, svg_path = sys.argv[1], sys.argv[2]
rows = json.load(open(figures_path))
sizes = sorted(rows, key=int)
names = [name for name in rows[sizes[0]] if "p99_ms" in rows[sizes[0]][name]]

width, height, left, right, top, bottom = 760, 420, 70, 230, 30, 50
plot_w, plot_h = width - left - right, height - top - bottom
values = [rows[size][name]["p99_ms"] for size in sizes for name in names if name in rows[size]]
y_low = 10 ** math.floor(math.log10(max(min(values), 0.1)))
y_high = 10 ** math.ceil(math.log10(max(values)))
x_low, x_high = math.log10(int(sizes[0])), math.log10(int(sizes[-1]))


def x(size):
    return left + (plot_w * (math.log10(int(size)) - x_low) / (x_high - x_low) if x_high > x_low else plot_w / 2)


def y(ms):
    return top + plot_h * (1 - (math.log10(max(ms, y_low)) - math.log10(y_low)) / (math.log10(y_high) - math.log10(y_low)))


colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
       f'<rect width="{width}" height="{height}" fill="white"/>',
       f'<text x="{left}" y="18" font-size="14">p99 (ms, log) against runs in the history (log)</text>']
decade = y_low
while decade <= y_high:
    out.append(f'<line x1="{left}" y1="{y(decade):.1f}" x2="{left + plot_w}" y2="{y(decade):.1f}" stroke="#ddd"/>')
    out.append(f'<text x="{left - 6}" y="{y(decade) + 4:.1f}" text-anchor="end">{decade:g}</text>')
    decade *= 10
for size in sizes:
    out.append(f'<line x1="{x(size):.1f}" y1="{top}" x2="{x(size):.1f}" y2="{top + plot_h}" stroke="#ddd"/>')
    out.append(f'<text x="{x(size):.1f}" y="{top + plot_h + 18}" text-anchor="middle">{int(size):,}</text>')
out.append(f'<text x="{left + plot_w / 2}" y="{height - 10}" text-anchor="middle">runs in the history</text>')
for index, name in enumerate(names):
    colour = colours[index % len(colours)]
    points = [(x(size), y(rows[size][name]["p99_ms"])) for size in sizes if name in rows[size]]
    out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="'
               + " ".join(f"{px:.1f},{py:.1f}" for px, py in points) + '"/>')
    out.extend(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>' for px, py in points)
    legend_y = top + 10 + index * 18
    out.append(f'<line x1="{left + plot_w + 15}" y1="{legend_y}" x2="{left + plot_w + 35}" y2="{legend_y}" stroke="{colour}" stroke-width="2"/>')
    out.append(f'<text x="{left + plot_w + 40}" y="{legend_y + 4}">{escape(name)}</text>')
out.append("</svg>")
with open(svg_path, "w") as svg:
    svg.write("\n".join(out) + "\n")
