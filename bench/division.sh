#!/usr/bin/env bash
# --act-codec division on the CPU, in three parts, each writing its raw output
# and its commands under bench/results/cpu-DATE-division/ (or OUT):
#   memory    the memory table: resnet18 and resnet50 at 32x32x3 and 224x224x3,
#             batch 128, planned by `bmst_dist info` (nothing runs): what is kept
#             for backward and the planned total, for plain, division, recompute
#             bn-relu and block, BMST m2, m2 + division and m2 + division + fp16
#             (with fp16 in 2 bytes, as a GPU keeps it), and each one's
#             compression against plain fp32
#   speed     images/s of division against plain (`bmst_dist bench`), the two
#             alternating, REPEATS times each, medians; also the CPU seconds each
#             whole command took (/usr/bin/time), which a busy machine disturbs less
#             than the wall clock
#   recompute images/s of --recompute bn-relu and block against none, as speed
#             measures them (alternating, REPEATS times, medians, CPU seconds)
#   accuracy  resnet20 on Fashion-MNIST (TRAIN training images, the whole test
#             split), EPOCHS epochs: plain, division, BMST m2 + division
# Usage: bench/division.sh [memory] [speed] [recompute] [accuracy]
# (default: memory, speed and accuracy)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BMST_DIST=${BMST_DIST:-$ROOT/build/bmst_dist}
BMST_DATA=${BMST_DATA:-$ROOT/build/bmst_data}
OUT=${OUT:-$ROOT/bench/results/cpu-$(date -u +%Y%m%d-%H%M%S)-division}
THREADS=${THREADS:-2}
REPEATS=${REPEATS:-3}
STEPS=${STEPS:-15}
EPOCHS=${EPOCHS:-3}
TRAIN=${TRAIN:-60000}
FASHION_MNIST=${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
PY=/usr/bin/python3
parts=("$@")
[[ ${#parts[@]} -gt 0 ]] || parts=(memory speed accuracy)
mkdir -p "$OUT"
log() { # NAME CMD...
    local name=$1
    shift
    echo "\$ $* > $name" >> "$OUT/commands.txt"
    "$@" > "$OUT/$name" 2>&1 || { tail -3 "$OUT/$name"; exit 1; }
}
echo "# $(date -u +%FT%TZ) on $(nproc) cores; uptime: $(uptime)" >> "$OUT/commands.txt"

memory() {
    local modes=("plain:--merge 1" "division:--merge 1 --act-codec division"
                 "recompute-bn-relu:--merge 1 --recompute bn-relu"
                 "recompute-block:--merge 1 --recompute block"
                 "m2:--merge 2" "m2-division:--merge 2 --act-codec division"
                 "m2-division-fp16:--merge 2 --act-codec division --precision fp16"
                 "m4-division-fp16:--merge 4 --act-codec division --precision fp16")
    for net in resnet18 resnet50; do
        for shape in 32x32x3 224x224x3; do
            for mode in "${modes[@]}"; do
                # shellcheck disable=SC2086
                log "info-$net-$shape-${mode%%:*}.txt" "$BMST_DIST" info --device cpu --net "$net" \
                    --shape "$shape" --classes 1000 --batch 128 ${mode#*:}
            done
        done
    done
    $PY - "$OUT" > "$OUT/memory.md" <<'EOF'
import glob, os, re, sys
out = sys.argv[1]
rows = {}
for path in sorted(glob.glob(os.path.join(out, "info-*.txt"))):
    net, shape, mode = re.match(r"info-(\w+)-(\w+)-(.+)\.txt", os.path.basename(path)).groups()
    text = open(path).read()
    saved = float(re.search(r"saved for backward \(--act-codec [^)]+\): ([0-9.]+) MiB", text).group(1))
    total = float(re.search(r"planned memory on cpu in \w+: ([0-9.]+) MiB", text).group(1))
    arena = float(re.search(r"training arena: ([0-9.]+) MiB", text).group(1))
    gpu = re.search(r"in 2-byte \w+, as a GPU keeps it: saved for backward ([0-9.]+) MiB, "
                    r"plain [0-9.]+ MiB; training arena ([0-9.]+) MiB", text)
    if gpu:
        # the same plan with 2-byte activations: the arena shrinks, the rest stays
        saved, gpu_arena = float(gpu.group(1)), float(gpu.group(2))
        total = total - arena + gpu_arena
        arena = gpu_arena
    rows[(net, shape, mode)] = (saved, arena, total)
modes = ["plain", "division", "recompute-bn-relu", "recompute-block", "m2", "m2-division",
         "m2-division-fp16", "m4-division-fp16"]
print("| network | input | mode | kept for backward MiB | training arena MiB | total planned MiB "
      "| compression of kept activations vs plain fp32 |")
print("|---|---|---|---|---|---|---|")
for net in ("resnet18", "resnet50"):
    for shape in ("32x32x3", "224x224x3"):
        base = rows[(net, shape, "plain")][0]
        for mode in modes:
            saved, arena, total = rows[(net, shape, mode)]
            print("| %s | %s | %s | %.1f | %.1f | %.1f | %.1fx |" %
                  (net, shape.replace("x", "x"), mode, saved, arena, total, base / saved))
EOF
    cat "$OUT/memory.md"
}

# alternate TABLE PREFIX OPTION VALUE...: REPEATS rounds of `bmst_dist bench` on each
# case, one run per VALUE of OPTION in turn (so the machine's load falls on all
# alike), into PREFIX-NET-VALUE-ROUND.txt with the command's CPU seconds; then
# TABLE: per network the median images/s of each value and, for every value
# after the first, its ratio to the first by images/s and by CPU seconds
alternate() {
    local table=$1 prefix=$2 option=$3
    shift 3
    local cases=("resnet20:28x28x1:64" "resnet18:32x32x3:64")
    for c in "${cases[@]}"; do
        IFS=: read -r net shape batch <<< "$c"
        for r in $(seq "$REPEATS"); do
            for value in "$@"; do
                log "$prefix-$net-$value-$r.txt" /usr/bin/time -f "cpu_seconds=%U %S" \
                    "$BMST_DIST" bench --device cpu --net "$net" \
                    --shape "$shape" --classes 10 --batch "$batch" --steps "$STEPS" --warmup 3 \
                    --threads "$THREADS" "$option" "$value"
            done
        done
    done
    $PY - "$OUT" "$prefix" "$@" > "$OUT/$table" <<'EOF'
import glob, os, re, statistics, sys
out, prefix, values = sys.argv[1], sys.argv[2], sys.argv[3:]
runs, cpu = {}, {}
for path in glob.glob(os.path.join(out, prefix + "-*.txt")):
    net, value, _ = re.match(re.escape(prefix) + r"-(\w+)-([\w-]+)-(\d+)\.txt",
                             os.path.basename(path)).groups()
    text = open(path).read()
    runs.setdefault((net, value), []).append(float(re.search(r"images_per_s=([0-9.]+)", text).group(1)))
    user, system = re.search(r"cpu_seconds=([0-9.]+) ([0-9.]+)", text).groups()
    cpu.setdefault((net, value), []).append(float(user) + float(system))
med = statistics.median
base = values[0]
head = ["network"] + ["%s img/s (runs)" % v for v in values]
for v in values[1:]:
    head += ["%s / %s, img/s" % (v, base),
             "%s / %s, CPU seconds of the whole command (inverse)" % (v, base)]
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for net in ("resnet20", "resnet18"):
    row = [net] + ["%.1f (%s)" % (med(runs[(net, v)]), ", ".join("%.0f" % x for x in runs[(net, v)]))
                   for v in values]
    for v in values[1:]:
        row += ["%.2f" % (med(runs[(net, v)]) / med(runs[(net, base)])),
                "%.2f" % (med(cpu[(net, base)]) / med(cpu[(net, v)]))]
    print("| " + " | ".join(row) + " |")
EOF
    cat "$OUT/$table"
}

speed() { alternate speed.md bench --act-codec plain division; }
recompute() { alternate recompute-speed.md rbench --recompute none bn-relu block; }

accuracy() {
    local data="$OUT/fashion-mnist.h5"
    log convert.txt "$BMST_DATA" convert fashion-mnist "$FASHION_MNIST" "$OUT/full.h5"
    $PY - "$OUT/full.h5" "$data" "$TRAIN" <<'EOF'
import sys, h5py
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with h5py.File(src) as f, h5py.File(dst, "w") as g:
    for k, v in f.attrs.items():
        g.attrs[k] = v
    for split, count in (("train", n), ("test", len(f["test/labels"]))):
        x = f[split + "/images"]
        g.create_dataset(split + "/images", data=x[:count], chunks=(64,) + x.shape[1:])
        g.create_dataset(split + "/labels", data=f[split + "/labels"][:count])
EOF
    rm -f "$OUT/full.h5"
    echo "training images: $TRAIN of 60000, test: all 10000" >> "$OUT/commands.txt"
    local common=(train --device cpu --threads "$THREADS" --data "$data" --net resnet20
                  --epochs "$EPOCHS" --batch 128 --lr 0.1 --seed 1)
    log train-plain.txt "$BMST_DIST" "${common[@]}" --csv "$OUT/train-plain.csv"
    log train-division.txt "$BMST_DIST" "${common[@]}" --act-codec division \
        --csv "$OUT/train-division.csv"
    log train-m2-division.txt "$BMST_DIST" "${common[@]}" --merge 2 --act-codec division \
        --csv "$OUT/train-m2-division.csv"
    rm -f "$data"
    $PY - "$OUT" > "$OUT/accuracy.md" <<'EOF'
import csv, os, sys
out = sys.argv[1]
print("| mode | train loss per epoch | test accuracy per epoch | final test accuracy |")
print("|---|---|---|---|")
for mode in ("plain", "division", "m2-division"):
    rows = list(csv.DictReader(l for l in open(os.path.join(out, "train-%s.csv" % mode)) if not l.startswith("#")))
    print("| %s | %s | %s | %.2f%% |" % (
        mode, ", ".join("%.4f" % float(r["train_loss"]) for r in rows),
        ", ".join("%.2f%%" % (100 * float(r["test_accuracy"])) for r in rows),
        100 * float(rows[-1]["test_accuracy"])))
EOF
    cat "$OUT/accuracy.md"
}

for part in "${parts[@]}"; do "$part"; done
echo "results in $OUT"
