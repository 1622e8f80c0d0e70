#!/usr/bin/env bash
# Fine-tuning's options and eval's metrics end to end: --freeze says what it
# froze, keeps those tensors bitwise (and their running statistics with
# --freeze-bn), resumes bitwise and keeps 2 ranks' replicas equal; eval's top-1, top-k, per-class lines and
# --confusion CSV agree with PyTorch's computation from the checkpoint (top-3
# for 3 classes), and 2 ranks write the same matrix as one; the bad
# combinations are one line each (needs /usr/bin/python3 with h5py, torch,
# and mpirun).
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
CHECK="$(dirname "$0")/eval_metrics_check.py"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

data="$work/d.h5"
"$BMST_DATA" synth --shape 16x16x3 --classes 10 --train 256 --test 150 --seed 3 "$data" \
    > /dev/null || { echo "cannot make the test dataset" >&2; exit 1; }
train=("$BMST_DIST" train --device cpu --data "$data" --net resnet20 --batch 32 --threads 2
       --seed 7 --lr 0.05 --schedule multistep --milestones 1 --augment off --max-steps 4)

# --- --freeze: the line, bitwise frozen tensors, bitwise resume ------------
frozen=(--freeze conv1,bn1,layer1 --freeze-bn --lr-head 0.2)
"${train[@]}" --epochs 2 "${frozen[@]}" --save "$work/a.h5" > "$work/a.log" 2>&1 ||
    fail "frozen run: $(tail -3 "$work/a.log")"
# resnet20's conv1 (432), bn1 (2x16), layer1's six convs (6x2304) and six BNs (6x2x16)
grep -q -- "--freeze conv1,bn1,layer1: 21 tensors, 14480 parameters frozen, their batch norms' running statistics too" \
    "$work/a.log" && pass || fail "no frozen line: $(grep freeze "$work/a.log")"
"${train[@]}" --epochs 1 "${frozen[@]}" --save "$work/r.h5" > /dev/null 2>&1 || fail "first half"
$PY - "$work/r.h5" "$work/a.h5" <<'PYEOF' && pass || fail "frozen tensors changed"
import sys, h5py, numpy as np
half, full = (h5py.File(p, "r") for p in sys.argv[1:3])
frozen = [n for n in full["model"] if n.split(".")[0] in ("conv1", "bn1", "layer1")
          and not n.endswith("num_batches_tracked")]
assert len(frozen) == 35, len(frozen)  # 21 weights + 14 running statistics
for n in frozen:
    assert full["model"][n][()].tobytes() == half["model"][n][()].tobytes(), n
    for key in full["optimizer"]:
        group = full["optimizer"][key]
        if isinstance(group, h5py.Group) and "running" not in n:
            assert not np.any(group[n][()]), (key, n)
moved = [n for n in full["model"] if n.startswith("layer3") and n.endswith("weight")]
assert all(full["model"][n][()].tobytes() != half["model"][n][()].tobytes() for n in moved)
PYEOF
"${train[@]}" --epochs 2 "${frozen[@]}" --resume "$work/r.h5" --save "$work/r.h5" \
    > "$work/r.log" 2>&1 || fail "resumed half: $(tail -3 "$work/r.log")"
h5diff -q "$work/a.h5" "$work/r.h5" /model /model && pass || fail "resumed weights differ"
h5diff -q "$work/a.h5" "$work/r.h5" /optimizer /optimizer && pass || fail "resumed state differs"

# 2 ranks: the all-reduce leaves the frozen weights out and the replicas
# stay equal (--check-replicas after every step); the frozen ones unchanged
timeout -k 5 120 mpirun --oversubscribe -np 2 "${train[@]}" --threads 1 \
    --epochs 1 "${frozen[@]}" --check-replicas --save "$work/two.h5" > "$work/two-train.log" 2>&1 ||
    fail "2-rank frozen run: $(tail -2 "$work/two-train.log")"
$PY - "$work/r.h5" "$work/two.h5" <<'PYEOF' && pass || fail "2 ranks changed frozen tensors"
import sys, h5py
one, two = (h5py.File(p, "r")["model"] for p in sys.argv[1:3])
frozen = [n for n in one if n.split(".")[0] in ("conv1", "bn1", "layer1") and "num_batches" not in n]
assert all(one[n][()].tobytes() == two[n][()].tobytes() for n in frozen)
assert any(one[n][()].tobytes() != two[n][()].tobytes() for n in one if n.startswith("fc."))
PYEOF

# --- eval: top-1, top-5, per class, the confusion matrix -------------------
"${train[@]}" --epochs 1 --lr 0.01 --max-steps 2 --save "$work/c.h5" > /dev/null 2>&1 ||
    fail "eval's checkpoint"
"$BMST_DIST" eval --device cpu --threads 2 --data "$data" --checkpoint "$work/c.h5" \
    --eval-batch 64 --confusion "$work/one.csv" > "$work/one.log" 2>&1 ||
    fail "eval: $(tail -2 "$work/one.log")"
$PY "$CHECK" "$data" "$work/c.h5" "$work/one.log" "$work/one.csv" && pass ||
    fail "eval's metrics disagree with PyTorch's"
timeout -k 5 120 mpirun --oversubscribe -np 2 "$BMST_DIST" eval --device cpu --threads 1 \
    --data "$data" --checkpoint "$work/c.h5" --eval-batch 64 --confusion "$work/two.csv" \
    > "$work/two.log" 2>&1 || fail "2-rank eval: $(tail -2 "$work/two.log")"
cmp -s "$work/one.csv" "$work/two.csv" && pass || fail "2 ranks' confusion matrix differs"
diff <(grep -v "images, " "$work/one.log") <(grep -v "images, " "$work/two.log") > /dev/null &&
    pass || fail "2 ranks' per-class lines differ"

# three classes: top-3, said so
"$BMST_DATA" synth --shape 16x16x3 --classes 3 --train 128 --test 60 --seed 4 "$work/d3.h5" \
    > /dev/null || fail "3-class dataset"
"${train[@]}" --data "$work/d3.h5" --epochs 1 --lr 0.001 --max-steps 1 --save "$work/c3.h5" \
    > /dev/null 2>&1 || fail "3-class checkpoint"
"$BMST_DIST" eval --device cpu --threads 2 --data "$work/d3.h5" --checkpoint "$work/c3.h5" \
    --confusion "$work/three.csv" > "$work/three.log" 2>&1 || fail "3-class eval"
grep -q "top-3 100.00%" "$work/three.log" && pass || fail "3 classes: $(head -1 "$work/three.log")"
$PY "$CHECK" "$work/d3.h5" "$work/c3.h5" "$work/three.log" "$work/three.csv" && pass ||
    fail "3-class metrics disagree with PyTorch's"

# --- one line each ---------------------------------------------------------
expect_error "prefix matching nothing" "'layer' matches no parameter of resnet20" \
    "${train[@]}" --epochs 1 --freeze layer
expect_error "empty prefix" "--freeze expects parameter name prefixes" \
    "${train[@]}" --epochs 1 --freeze conv1,
expect_error "everything frozen" "nothing would train" \
    "${train[@]}" --epochs 1 --freeze conv1,bn1,layer1,layer2,layer3,fc
expect_usage "--freeze-bn alone" "--freeze-bn needs --freeze" \
    "${train[@]}" --epochs 1 --freeze-bn
expect_usage "--freeze with pruning" "--freeze and --prune-to cannot be combined" \
    "${train[@]}" --epochs 1 --freeze conv1 --prune-to 0.5
expect_usage "--lr-head without --lr" "--lr-head needs --lr above 0" \
    "${train[@]}" --epochs 1 --lr 0 --lr-head 0.1
expect_usage "negative --lr-head" "--lr-head must be at least 0" \
    "${train[@]}" --epochs 1 --lr-head -1
expect_usage "--confusion in train" "option '--confusion' does not apply to train" \
    "${train[@]}" --epochs 1 --confusion "$work/x.csv"
expect_usage "--confusion over the checkpoint" "--checkpoint .* and --confusion .* are the same file" \
    "$BMST_DIST" eval --data "$data" --checkpoint "$work/c.h5" --confusion "$work/c.h5"
expect_usage "--confusion in a missing folder" "cannot write the confusion matrix" \
    "$BMST_DIST" eval --data "$data" --checkpoint "$work/c.h5" --confusion "$work/no/x.csv"

finish test_finetune
