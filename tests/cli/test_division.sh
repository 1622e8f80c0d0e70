#!/usr/bin/env bash
# --act-codec division end to end, on a Fashion-MNIST subset at 14x14 (so
# neither 14 nor 7 is a multiple of the block: partial tiles everywhere):
# - resnet20 trains under division with its loss falling as plain's does
#   (same seed, same batches: the losses per epoch within 10%);
# - --merge 2 with fp16 and --merge 4 with bf16 train too, their losses
#   within 10% of plain's (two epochs, too few for a mixed loss to fall);
# - resume is bitwise with the codec on (1 epoch + 1 == 2 straight), and a
#   resume under another codec says so in a note;
# - 2 ranks agree on their weights every step (--check-replicas);
# - info's "saved for backward" is what an independent count of resnet20's
#   saved values gives (below, from the layer table info prints and the
#   stored form's layout), under division and under plain, at two settings;
# - bad settings are one line and exit 2.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3 # the system Python, with h5py and numpy
HERE=$(dirname "$0")
export OMP_NUM_THREADS=2

convert_fashion_mnist "$work/full.h5"
$PY "$HERE/zoo_training.py" shrink "$work/full.h5" "$work/fm.h5" 512 64 ||
    { echo "FAIL: cannot cut the subset"; exit 1; }
rm -f "$work/full.h5"

train=("$BMST_DIST" train --device cpu --threads 2 --data "$work/fm.h5" --net resnet20
       --batch 32 --lr 0.05 --schedule constant --augment off --seed 5)

# The loss per epoch (the CSV's train_loss column) of runs A and B: every
# epoch's within TOL (relative) of the other's, and with FALLS 1 B's last
# below its first.
close_losses() { # A B TOL FALLS
    $PY - "$@" <<'EOF'
import csv, sys
a, b, tol, falls = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4] == "1"
la = [float(r["train_loss"]) for r in csv.DictReader(l for l in open(a) if not l.startswith("#"))]
lb = [float(r["train_loss"]) for r in csv.DictReader(l for l in open(b) if not l.startswith("#"))]
assert len(la) == len(lb) >= 2, (la, lb)
assert not falls or lb[-1] < lb[0], "the loss does not fall: %s" % lb
worst = max(abs(x - y) / x for x, y in zip(la, lb))
assert worst < tol, "losses %s against %s: %.3f apart" % (lb, la, worst)
print("losses %s against %s: at most %.3f apart" % (lb, la, worst))
EOF
}

# --- training: division against plain, 3 epochs ---------------------------------
"${train[@]}" --epochs 3 --csv "$work/plain.csv" > "$work/plain.log" 2>&1 ||
    fail "plain run: $(tail -2 "$work/plain.log")"
"${train[@]}" --epochs 3 --act-codec division --csv "$work/div.csv" --save "$work/div.h5" \
    > "$work/div.log" 2>&1 || fail "division run: $(tail -2 "$work/div.log")"
if out=$(close_losses "$work/plain.csv" "$work/div.csv" 0.10 1 2>&1); then pass; else
    fail "division's loss is not plain's: $out"
fi

# BMST and the half types (emulated on the CPU) with the codec on
for setting in "2 fp16" "4 bf16"; do
    set -- $setting
    "${train[@]}" --epochs 2 --merge "$1" --precision "$2" --csv "$work/p.csv" \
        > "$work/p.log" 2>&1 || fail "plain --merge $1 --precision $2: $(tail -2 "$work/p.log")"
    "${train[@]}" --epochs 2 --merge "$1" --precision "$2" --act-codec division \
        --csv "$work/d.csv" > "$work/d.log" 2>&1 ||
        fail "division --merge $1 --precision $2: $(tail -2 "$work/d.log")"
    if out=$(close_losses "$work/p.csv" "$work/d.csv" 0.10 0 2>&1); then pass; else
        fail "--merge $1 --precision $2: $out"
    fi
done

# --- resume: bitwise with the codec on (BMST, fp16, B=4, Q=4) -------------------
resume=("${train[@]}" --merge 2 --precision fp16 --act-codec division --division-block 4
        --division-bits 4)
"${resume[@]}" --epochs 2 --save "$work/straight.h5" > /dev/null 2>&1 || fail "straight run"
"${resume[@]}" --epochs 1 --save "$work/half.h5" > /dev/null 2>&1 || fail "first half"
"${resume[@]}" --epochs 2 --resume "$work/half.h5" --save "$work/half.h5" > "$work/r.log" 2>&1 ||
    fail "resumed half: $(tail -2 "$work/r.log")"
h5diff -q "$work/straight.h5" "$work/half.h5" /model /model && pass || fail "resumed weights differ"
h5diff -q "$work/straight.h5" "$work/half.h5" /optimizer /optimizer && pass ||
    fail "resumed momentum differs"
grep -q "other settings" "$work/r.log" && fail "same settings, yet a note: $(cat "$work/r.log")" ||
    pass
# the checkpoint carries the codec: resuming under another one is a note
"${train[@]}" --epochs 4 --resume "$work/div.h5" > "$work/other.log" 2>&1 ||
    fail "resume under plain: $(tail -2 "$work/other.log")"
grep -q -- "--act-codec plain (was division --division-block 8 --division-bits 2)" \
    "$work/other.log" && pass || fail "no note of the codec change: $(head -3 "$work/other.log")"

# --- 2 ranks agree every step ----------------------------------------------------
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
OMP_NUM_THREADS=1 timeout -k 5 120 mpirun --oversubscribe -np 2 "$BMST_DIST" train --device cpu \
    --threads 1 --data "$work/fm.h5" --net resnet20 --batch 16 --epochs 1 --max-steps 6 \
    --augment off --act-codec division --merge 2 --check-replicas > "$work/mpi.log" 2>&1 && pass ||
    fail "2 ranks under division: $(tail -3 "$work/mpi.log")"

# --- info: saved for backward against an independent count ----------------------
# resnet20's saved values, from the layer table: a conv, BN or fc reads its
# input whole (or DIVISION's form of it), a ReLU its output's signs; a
# downsample conv reads its block's input, everything else the node before;
# the loss reads its targets.
# Plain keeps each value (fp32); division keeps a value read whole with more
# than one element per channel as tile means, per-(sample, channel) minimum
# and step (16-byte aligned sections) and Q-bit codes (each sample's whole
# bytes), and signs as a mask of 32-bit words (16-byte aligned); every block
# is 64-byte aligned in the arena.
check_info() { # BATCH SHAPE B Q
    "$BMST_DIST" info --device cpu --net resnet20 --shape "$2" --classes 10 --batch "$1" \
        --act-codec division --division-block "$3" --division-bits "$4" > "$work/info.log" 2>&1 ||
        { fail "info: $(tail -2 "$work/info.log")"; return; }
    if out=$($PY - "$work/info.log" "$3" "$4" <<'EOF'
import math, re, sys
log, B, Q = open(sys.argv[1]).read(), int(sys.argv[2]), int(sys.argv[3])
rows = re.findall(r"^\s*\d+\s+(\w+)\s+(\S+)\s+(\d+)x(\d+)x(\d+)x(\d+)\s", log, re.M)
a16 = lambda x: (x + 15) // 16 * 16
a64 = lambda x: (x + 63) // 64 * 64
needs, shape = {}, {}
prev = block_in = None
for i, (op, name, n, h, w, c) in enumerate(rows):
    shape[i] = tuple(map(int, (n, h, w, c)))
    reads = block_in if name.endswith("downsample.0") else prev
    if name.endswith(".conv1"):
        block_in = prev
    if op in ("conv", "bn", "fc"):
        needs.setdefault(reads, set()).add("whole")
    if op == "relu":
        needs.setdefault(i, set()).add("sign")
    if op != "input" or name == "images":
        prev = i
plain = division = 0
# the loss reads its soft targets (fp32) again: kept as they are under both
n, h, w, c = shape[[i for i, r in enumerate(rows) if r[1] == "targets"][0]]
plain += a64(4 * n * h * w * c)
division += a64(4 * n * h * w * c)
for v, need in needs.items():
    n, h, w, c = shape[v]
    count = n * h * w * c
    plain += a64(4 * count)
    if "whole" in need and h * w == 1:
        division += a64(4 * count)
        continue
    stored = a16(math.ceil(count / 32) * 4) if "sign" in need else 0
    if "whole" in need:
        tiles = math.ceil(h / B) * math.ceil(w / B)
        stored += a16(4 * n * tiles * c) + 2 * a16(4 * n * c) + a16(n * math.ceil(h * w * c * Q / 8))
    division += a64(stored)
m = re.search(r"saved for backward \(--act-codec division\): ([0-9.]+) MiB, plain ([0-9.]+) MiB", log)
got = float(m.group(1)), float(m.group(2))
want = division / 2**20, plain / 2**20
assert all(abs(g - x) < 0.006 for g, x in zip(got, want)), "info %s, expected %.3f %.3f" % (got, *want)
print("%.2f of %.2f MiB: %.1fx" % (want[0], want[1], want[1] / want[0]))
EOF
    ); then pass; else fail "info at batch $1, $2, B=$3 Q=$4: $out"; fi
}
check_info 128 28x28x1 8 2
check_info 64 32x32x3 4 4

# --- bad settings ------------------------------------------------------------------
expect_usage "Q that does not divide 8" "--division-bits expects 1, 2, 4 or 8, got 3" \
    "${train[@]}" --act-codec division --division-bits 3
expect_usage "B under another codec" \
    "--division-block and --division-bits apply to --act-codec division" \
    "${train[@]}" --division-block 4
expect_usage "B of 0" "division-block" "${train[@]}" --act-codec division --division-block 0
finish division
