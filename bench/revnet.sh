#!/usr/bin/env bash
# The RevNets on the CPU against CIFAR ResNets of about their size, in three
# parts, each writing its raw output and its commands under
# bench/results/cpu-DATE-revnet/ (or OUT):
#   memory    `bmst_dist info` (nothing runs), batch 128 at 32x32x3: the
#             training arena (planned activations, their gradients and
#             scratch), what is kept for backward, the workspace (for a RevNet
#             also one unit's intermediates) and the planned total, for
#             revnet38/110/164 and resnet20/110/164
#   speed     images/s of `bmst_dist bench` at batch 128, the nets alternating,
#             REPEATS times each, medians; also the CPU seconds of each whole
#             command (/usr/bin/time), which a busy machine disturbs less than
#             the wall clock; on a shared machine a rough ratio either way
#   rebuild   --check-reconstruction: the worst relative error of the inputs
#             the units rebuild in backward, fp32, fp16 and bf16, batch 32
# Usage: bench/revnet.sh [memory] [speed] [rebuild] (default: all three)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BMST_DIST=${BMST_DIST:-$ROOT/build/bmst_dist}
OUT=${OUT:-$ROOT/bench/results/cpu-$(date -u +%Y%m%d-%H%M%S)-revnet}
THREADS=${THREADS:-2}
REPEATS=${REPEATS:-2}
STEPS=${STEPS:-2}
PY=/usr/bin/python3
parts=("$@")
[[ ${#parts[@]} -gt 0 ]] || parts=(memory speed rebuild)
mkdir -p "$OUT"
log() { # NAME CMD...
    local name=$1
    shift
    echo "\$ $* > $name" >> "$OUT/commands.txt"
    echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/commands.txt"
    "$@" > "$OUT/$name" 2>&1 || { tail -3 "$OUT/$name"; exit 1; }
}
echo "# $(date -u +%FT%TZ) on $(nproc) cores; uptime: $(uptime)" >> "$OUT/commands.txt"

memory() {
    for net in resnet20 revnet38 resnet110 revnet110 resnet164 revnet164; do
        log "info-$net.txt" "$BMST_DIST" info --device cpu --net "$net" --batch 128
    done
    $PY - "$OUT" > "$OUT/memory.md" <<'PYEOF'
import os, re, sys
out = sys.argv[1]
print("| net | parameters | training arena MiB | kept for backward MiB | workspace MiB | planned total MiB |")
print("|---|---:|---:|---:|---:|---:|")
for net in ("resnet20", "revnet38", "resnet110", "revnet110", "resnet164", "revnet164"):
    text = open(os.path.join(out, f"info-{net}.txt")).read()
    params = int(re.search(r"parameters: (\d+) trainable", text).group(1))
    arena, ws = re.search(r"training arena: ([0-9.]+) MiB .*?([0-9.]+) MiB\n", text).groups()
    saved = re.search(r"saved for backward \(--act-codec \S+\): ([0-9.]+) MiB", text).group(1)
    total = re.search(r"planned memory on cpu in \w+: ([0-9.]+) MiB", text).group(1)
    print(f"| {net} | {params / 1e6:.2f}M | {arena} | {saved} | {ws} | {total} |")
PYEOF
}

speed() {
    for r in $(seq 1 "$REPEATS"); do
        for net in resnet20 revnet38 resnet110 revnet110; do
            log "bench-$net-$r.txt" /usr/bin/time -f "cpu_seconds=%U %S" "$BMST_DIST" bench \
                --device cpu --threads "$THREADS" --net "$net" --batch 128 --steps "$STEPS" \
                --warmup 1
        done
    done
    $PY - "$OUT" "$REPEATS" > "$OUT/speed.md" <<'PYEOF'
import os, re, statistics, sys
out, repeats = sys.argv[1], int(sys.argv[2])
print("| net | images/s (median) | runs | CPU seconds per command (median) | planned MiB |")
print("|---|---:|---|---:|---:|")
for net in ("resnet20", "revnet38", "resnet110", "revnet110"):
    rates, cpu, planned = [], [], ""
    for r in range(1, repeats + 1):
        text = open(os.path.join(out, f"bench-{net}-{r}.txt")).read()
        rates.append(float(re.search(r"images_per_s=([0-9.]+)", text).group(1)))
        user, system = re.search(r"cpu_seconds=([0-9.]+) ([0-9.]+)", text).groups()
        cpu.append(float(user) + float(system))
        planned = re.search(r"planned_mib=([0-9.]+)", text).group(1)
    runs = ", ".join(f"{x:.1f}" for x in rates)
    print(f"| {net} | {statistics.median(rates):.1f} | {runs} | {statistics.median(cpu):.0f} "
          f"| {planned} |")
PYEOF
}

rebuild() {
    for net in revnet38 revnet110 revnet164; do
        for precision in fp32 fp16 bf16; do
            log "rebuild-$net-$precision.txt" "$BMST_DIST" bench --device cpu --threads "$THREADS" \
                --net "$net" --batch 32 --steps 1 --warmup 0 --precision "$precision" \
                --check-reconstruction
        done
    done
    grep -h '^reconstruction:' "$OUT"/rebuild-*.txt > "$OUT/rebuild.txt"
}

for part in "${parts[@]}"; do "$part"; done
