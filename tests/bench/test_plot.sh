#!/bin/bash
# bench/plot.py: the PNGs it draws from the committed results of
# cpu_vs_pytorch.sh and scaling.sh, and that what it draws is the tables'
# numbers (every bar's height, every point, the ideal line: one rank's rate
# times the ranks); a folder without either table is one error line. Needs
# /usr/bin/python3 with matplotlib (launch/install_deps.sh --tests).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/bmst_plot.XXXXXX")
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }

mkdir -p "$work/cpu" "$work/scaling" "$work/other"
cp "$root/bench/results/cpu-20261123-072218/results.md" "$work/cpu/"
cp "$root/bench/results/scaling-20261123-212512/results.md" "$work/scaling/"
/usr/bin/python3 "$root/bench/plot.py" "$work/cpu" "$work/scaling" > "$work/out" 2>&1 ||
    fail "plot.py: $(cat "$work/out")"
for png in cpu/speed.png cpu/memory.png scaling/scaling.png; do
    [[ $(head -c 8 "$work/$png" 2> /dev/null | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] &&
        pass || fail "$png is not a PNG"
done

/usr/bin/python3 - "$root/bench" "$work" << 'PY' && pass || fail "the plots do not show the tables"
import sys
sys.path.insert(0, sys.argv[1])
import plot
figures = []
plot.save = lambda fig, folder, name: figures.append(fig)  # keep them to look at
work = sys.argv[2]

header, rows = plot.read_table(f"{work}/cpu/results.md")
plot.plot_cpu(f"{work}/cpu", rows)
speed, memory = figures
heights = [b.get_height() for c in speed.axes[0].containers for b in c]
want = [float(r[col]) for m in ("1", "2") for col in ("ours img/s", "PyTorch img/s")
        for r in rows if r["merge"] == m]
assert heights == want, (heights, want)
heights = [b.get_height() for c in memory.axes[0].containers for b in c]
want = [float(r[col]) for m in ("1", "2")
        for col in ("ours peak RSS MiB", "PyTorch peak RSS MiB", "ours planned MiB")
        for r in rows if r["merge"] == m]
assert heights == want, (heights, want)

figures.clear()
header, rows = plot.read_table(f"{work}/scaling/results.md")
plot.plot_scaling(f"{work}/scaling", rows)
lines = {l.get_label(): (list(l.get_xdata()), list(l.get_ydata())) for l in figures[0].axes[0].lines}
for kind in ("weak", "strong"):
    part = sorted((int(r["ranks"]), float(r["images/s"])) for r in rows if r["scaling"] == kind)
    assert lines[f"{kind} scaling"] == ([p[0] for p in part], [p[1] for p in part]), lines
    one = dict(part)[1]
    assert lines[f"{kind}: ideal (1 rank x ranks)"][1] == [one * p[0] for p in part], lines
PY

printf '# nothing\n\n| a | b |\n|---|---|\n| 1 | 2 |\n' > "$work/other/results.md"
if /usr/bin/python3 "$root/bench/plot.py" "$work/other" > "$work/out" 2>&1; then
    fail "a folder with neither table was plotted"
else
    [[ $(grep -c '' "$work/out") -eq 1 ]] && grep -q "neither a cpu_vs_pytorch nor a scaling table" "$work/out" &&
        pass || fail "a folder with neither table: $(cat "$work/out")"
fi

echo "plot: $passed passed, $failed failed"
[[ $failed -eq 0 && $passed -gt 0 ]]
