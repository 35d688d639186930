"""Tables and a plot of how baton's cost grows, from the runs bench/scaling.sh records.

Usage: python3 bench/scaling_report.py SCALING.jsonl OUT.svg
A point measured several times (bench/scaling.sh --repeat) is the median of its runs.
Prints one markdown table per series on stdout and draws OUT.svg: CPU per conversation against
concurrency (memory and SQLite journals) and against the number of agents, and CPU per turn
against the length of the conversation. Standard library only.
"""
import json
import math
import statistics
import sys
from collections import defaultdict


def load(path):
    """Each series' points in order of x; a point measured several times (rounds) is the
    median of its runs, field by field."""
    runs = defaultdict(list)
    with open(path) as lines:
        for line in lines:
            if line.strip():
                run = json.loads(line)
                runs[(run["series"], run["x"])].append(run)
    series = defaultdict(list)
    for (name, _), repeats in sorted(runs.items(), key=lambda item: item[0][1]):
        point = dict(repeats[0])
        for key, value in point.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                point[key] = statistics.median(run[key] for run in repeats)
        point["runs"] = len(repeats)
        series[name].append(point)
    return series


def cpu_ms_per_turn(run):
    return run["cpu_s"] * 1000 / run["turns"]


TABLES = [
    ("Concurrency (journal in memory)", "concurrency-memory", "conversations at a time"),
    ("Concurrency (journal on SQLite, FULL)", "concurrency-sqlite", "conversations at a time"),
    ("Number of agents (journal in memory, 50 at a time)", "agents", "agents"),
    ("Transcript length (journal in memory, 50 at a time)", "turns", "turns per conversation"),
]


def tables(series):
    for title, name, x_label in TABLES:
        runs = series.get(name)
        if not runs:
            continue
        print(f"\n{title}\n")
        print(f"| {x_label} | runs | conversations | CPU ms/conversation | CPU ms/turn | conversations/s | p50 ms | p99 ms | peak RSS MB |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for run in runs:
            print(
                f"| {run['x']:g} | {run['runs']} | {run['conversations']:,.0f} | {run['cpu_ms_per_conv']:.3f} | {cpu_ms_per_turn(run):.3f} "
                f"| {run['conv_per_s']:,.0f} | {run['p50_ms']:.1f} | {run['p99_ms']:.1f} | {run['maxrss_mb']:.1f} |"
            )


# The plot: three panels side by side, each a line chart with its own axes.
WIDTH, HEIGHT, PANEL, MARGIN = 1200, 380, 400, 60
COLOURS = ["#1f77b4", "#d62728", "#2ca02c"]


def panel(index, title, x_label, y_label, lines, log_x=False):
    """SVG for one panel: `lines` is [(label, [(x, y), ...])]."""
    left, top = index * PANEL + MARGIN, 40
    width, height = PANEL - MARGIN - 20, HEIGHT - top - MARGIN
    points = [point for _, line in lines for point in line]
    if not points:
        return ""
    fx = (lambda x: math.log10(x)) if log_x else (lambda x: x)
    xs = [fx(x) for x, _ in points]
    x_min, x_max = min(xs), max(xs)
    y_max = max(y for _, y in points) * 1.15 or 1
    sx = lambda x: left + (fx(x) - x_min) / ((x_max - x_min) or 1) * width
    sy = lambda y: top + height - y / y_max * height
    svg = [
        f'<text x="{left + width / 2}" y="20" text-anchor="middle" font-weight="bold">{title}</text>',
        f'<line x1="{left}" y1="{top + height}" x2="{left + width}" y2="{top + height}" stroke="black"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + height}" stroke="black"/>',
        f'<text x="{left + width / 2}" y="{top + height + 40}" text-anchor="middle">{x_label}</text>',
        f'<text x="{left - 45}" y="{top + height / 2}" text-anchor="middle" transform="rotate(-90 {left - 45} {top + height / 2})">{y_label}</text>',
    ]
    for tick in range(5):
        value = y_max * tick / 4
        svg.append(f'<text x="{left - 5}" y="{sy(value) + 4}" text-anchor="end" font-size="11">{value:.2f}</text>')
        svg.append(f'<line x1="{left}" y1="{sy(value)}" x2="{left + width}" y2="{sy(value)}" stroke="#ddd"/>')
    for x in sorted({x for x, _ in points}):
        svg.append(f'<text x="{sx(x)}" y="{top + height + 16}" text-anchor="middle" font-size="11">{x:g}</text>')
    for n, (label, line) in enumerate(lines):
        colour = COLOURS[n % len(COLOURS)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in line)
        svg.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        svg.extend(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{colour}"/>' for x, y in line)
        svg.append(f'<text x="{left + width - 5}" y="{top + 14 + 16 * n}" fill="{colour}" font-size="12" text-anchor="end">{label}</text>')
    return "\n".join(svg)


def plot(series, path):
    line = lambda name, y: [(run["x"], y(run)) for run in series.get(name, [])]
    per_conv = lambda run: run["cpu_ms_per_conv"]
    panels = [
        panel(0, "CPU per conversation vs concurrency", "conversations at a time (log)", "CPU ms per conversation",
              [("memory", line("concurrency-memory", per_conv)), ("SQLite FULL", line("concurrency-sqlite", per_conv))],
              log_x=True),
        panel(1, "CPU per conversation vs agents", "agents in the team", "CPU ms per conversation",
              [("memory", line("agents", per_conv))]),
        panel(2, "CPU per turn vs conversation length", "turns per conversation", "CPU ms per turn",
              [("memory", line("turns", cpu_ms_per_turn))]),
    ]
    with open(path, "w") as svg:
        svg.write(f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
                  f'font-family="sans-serif" font-size="13">\n<rect width="100%" height="100%" fill="white"/>\n')
        svg.write("\n".join(panels))
        svg.write("\n</svg>\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python3 bench/scaling_report.py SCALING.jsonl OUT.svg")
    runs = load(sys.argv[1])
    tables(runs)
    plot(runs, sys.argv[2])
