"""Draws PNGs from the results folders that bench/ writes, beside their
results.md (matplotlib; Debian: python3-matplotlib):

  cpu_vs_pytorch.sh  (bench/results/cpu-*)      speed.png   images/s, ours and
                     PyTorch's, grouped by model and input, one bar per merge
                     factor: the BMST speed-up at a glance
                                                memory.png  peak RSS, ours and
                     PyTorch's, and our planned memory, the same groups
  scaling.sh         (bench/results/scaling-*)  scaling.png images/s against
                     ranks, weak and strong scaling, with the ideal line (one
                     rank's rate times the ranks)

  python3 bench/plot.py RESULTS_DIR...   writes the PNGs into each folder and
                                         prints their paths

A folder is recognised by its results.md table's header; one with neither
table is an error.
"""
import os
import sys

import matplotlib

matplotlib.use("Agg")  # files only: no display
import matplotlib.pyplot as plt  # noqa: E402


def read_table(path):
    """The first Markdown table of a file, as a list of {header: cell}."""
    rows, header = [], None
    for line in open(path):
        line = line.strip()
        if not line.startswith("|"):
            if header:
                break
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if header is None:
            header = cells
        elif not all(set(c) <= set("-: ") for c in cells):
            rows.append(dict(zip(header, cells)))
    if not header:
        raise SystemExit(f"{path}: no table")
    return header, rows


def grouped_bars(ax, groups, series, ylabel, title):
    """Bars for every (group, series) pair: series is [(label, [value per group])]."""
    width = 0.8 / len(series)
    for i, (label, values) in enumerate(series):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        bars = ax.bar(xs, values, width, label=label)
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)


def plot_cpu(folder, rows):
    """speed.png and memory.png from cpu_vs_pytorch.sh's table."""
    cases = []  # (model, input) in the table's order
    for r in rows:
        if (r["model"], r["input"]) not in cases:
            cases.append((r["model"], r["input"]))
    merges = sorted({int(r["merge"]) for r in rows})
    groups = [f"{m}\n{i}" for m, i in cases]

    def column(name, merge):
        out = []
        for model, shape in cases:
            match = [r for r in rows if (r["model"], r["input"], int(r["merge"])) == (model, shape, merge)]
            out.append(float(match[0][name]) if match else 0.0)
        return out

    made = []
    fig, ax = plt.subplots(figsize=(7, 4))
    series = []
    for m in merges:
        series.append((f"ours, merge {m}", column("ours img/s", m)))
        series.append((f"PyTorch, merge {m}", column("PyTorch img/s", m)))
    grouped_bars(ax, groups, series, "training images/s", "Training speed (higher is better)")
    made.append(save(fig, folder, "speed.png"))

    fig, ax = plt.subplots(figsize=(7, 4))
    series = []
    for m in merges:
        series.append((f"ours RSS, merge {m}", column("ours peak RSS MiB", m)))
        series.append((f"PyTorch RSS, merge {m}", column("PyTorch peak RSS MiB", m)))
        series.append((f"ours planned, merge {m}", column("ours planned MiB", m)))
    grouped_bars(ax, groups, series, "MiB", "Memory (lower is better)")
    made.append(save(fig, folder, "memory.png"))
    return made


def plot_scaling(folder, rows):
    """scaling.png from scaling.sh's table."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for kind, style in (("weak", "o-"), ("strong", "s-")):
        part = sorted((int(r["ranks"]), float(r["images/s"])) for r in rows if r["scaling"] == kind)
        if not part:
            continue
        ranks = [p[0] for p in part]
        rates = [p[1] for p in part]
        ax.plot(ranks, rates, style, label=f"{kind} scaling")
        one = dict(part).get(1)
        if one:
            ax.plot(ranks, [one * n for n in ranks], ":", color=ax.lines[-1].get_color(),
                    label=f"{kind}: ideal (1 rank x ranks)")
    ax.set_xlabel("ranks")
    ax.set_ylabel("training images/s (all ranks)")
    ax.set_title("Scaling")
    ax.set_xticks(sorted({int(r["ranks"]) for r in rows}))
    ax.legend(fontsize=8)
    return [save(fig, folder, "scaling.png")]


def save(fig, folder, name):
    path = os.path.join(folder, name)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    for folder in sys.argv[1:]:
        header, rows = read_table(os.path.join(folder, "results.md"))
        if "PyTorch img/s" in header:
            made = plot_cpu(folder, rows)
        elif "scaling" in header and "images/s" in header:
            made = plot_scaling(folder, rows)
        else:
            raise SystemExit(f"{folder}/results.md: neither a cpu_vs_pytorch nor a scaling table")
        for path in made:
            print(path)


if __name__ == "__main__":
    main()
