#!/usr/bin/env bash
# Training runs end to end on a small synthetic dataset: a seed makes a run
# bitwise reproducible, resuming continues exactly, eval scores a checkpoint,
# the CSV has a row per epoch, and a killed run never leaves a damaged checkpoint.
source "$(dirname "$0")/lib.sh"

data="$work/synth.h5"
"$BMST_DATA" synth --shape 16x16x3 --classes 4 --train 256 --test 64 "$data" > /dev/null ||
    { echo "cannot make the test dataset" >&2; exit 1; }
train=("$BMST_DIST" train --device cpu --data "$data" --net resnet20 --batch 32 --merge 2 --threads 2
       --seed 7 --lr 0.05 --schedule multistep --milestones 1 --label-smoothing 0.1)

# same command, same threads: bitwise identical weights (the second run with
# --deterministic, which the CPU accepts and needs not: it changes nothing)
"${train[@]}" --epochs 2 --save "$work/a.h5" --csv "$work/a.csv" > "$work/a.log" 2>&1 ||
    fail "first run: $(tail -3 "$work/a.log")"
"${train[@]}" --epochs 2 --deterministic --save "$work/b.h5" > /dev/null 2>&1 || fail "second run"
h5diff -q "$work/a.h5" "$work/b.h5" /model /model && pass || fail "same seed, different weights"

# a different seed gives different weights (the comparison above can fail)
"${train[@]}" --epochs 2 --seed 8 --save "$work/c.h5" > /dev/null 2>&1 || fail "seed 8 run"
h5diff -q "$work/a.h5" "$work/c.h5" /model /model > /dev/null && fail "seed has no effect" || pass

# 1 epoch + resume for 1 more == 2 epochs straight, weights and momentum bitwise
"${train[@]}" --epochs 1 --save "$work/r.h5" > /dev/null 2>&1 || fail "first half"
"${train[@]}" --epochs 2 --resume "$work/r.h5" --save "$work/r.h5" > "$work/r.log" 2>&1 ||
    fail "resumed half: $(tail -3 "$work/r.log")"
grep -q "resumed from" "$work/r.log" && pass || fail "no resume notice"
h5diff -q "$work/a.h5" "$work/r.h5" /model /model && pass || fail "resumed weights differ"
h5diff -q "$work/a.h5" "$work/r.h5" /optimizer /optimizer && pass || fail "resumed momentum differs"

# the same with AdamW, --no-decay bn,bias: weights and optimizer state
# (exp_avg, exp_avg_sq and the step count its bias correction uses) bitwise
adamw=("${train[@]}" --optimizer adamw --lr 0.002 --weight-decay 0.05 --no-decay bn,bias)
"${adamw[@]}" --epochs 2 --save "$work/w.h5" > /dev/null 2>&1 || fail "AdamW run"
"${adamw[@]}" --epochs 1 --save "$work/wr.h5" > /dev/null 2>&1 || fail "AdamW first half"
"${adamw[@]}" --epochs 2 --resume "$work/wr.h5" --save "$work/wr.h5" > "$work/wr.log" 2>&1 ||
    fail "AdamW resumed half: $(tail -3 "$work/wr.log")"
h5diff -q "$work/w.h5" "$work/wr.h5" /model /model && pass || fail "AdamW: resumed weights differ"
h5diff -q "$work/w.h5" "$work/wr.h5" /optimizer /optimizer && pass ||
    fail "AdamW: resumed optimizer state differs"
# AdamW trains otherwise than SGD (the comparisons above can fail)
h5diff -q "$work/a.h5" "$work/w.h5" /model /model > /dev/null && fail "--optimizer has no effect" ||
    pass

# fp16, emulated on the CPU: a first loss scale too large for the half type
# overflows, so steps are skipped and the scale halved; a resumed run restores
# the scale and its count of clean steps and continues bitwise as one run
half=("${train[@]}" --precision fp16 --loss-scale 1e7 --loss-scale-window 3)
"${half[@]}" --epochs 2 --save "$work/h.h5" > "$work/h.log" 2>&1 ||
    fail "fp16 run: $(tail -3 "$work/h.log")"
grep -q "loss scale .* ([1-9][0-9]* skipped)" "$work/h.log" && pass ||
    fail "fp16 run skipped no step: $(grep '^epoch' "$work/h.log")"
"${half[@]}" --epochs 1 --save "$work/hr.h5" > /dev/null 2>&1 || fail "fp16 first half"
"${half[@]}" --epochs 2 --resume "$work/hr.h5" --save "$work/hr.h5" > /dev/null 2>&1 ||
    fail "fp16 resumed half"
h5diff -q "$work/h.h5" "$work/hr.h5" /model /model && pass || fail "fp16 resumed weights differ"
/usr/bin/python3 - "$work/h.h5" "$work/hr.h5" <<'PY' && pass || fail "fp16 loss scale not carried"
import sys, h5py
a, b = (h5py.File(p, "r").attrs for p in sys.argv[1:])
assert a["loss_scale"] == b["loss_scale"] and a["loss_scale"] < 1e7, (a["loss_scale"], b["loss_scale"])
assert a["loss_scale_clean_steps"] == b["loss_scale_clean_steps"]
PY

# the report: one CSV row per epoch and a final summary
[[ $(grep -vc '^#' "$work/a.csv") -eq 3 ]] && pass || fail "CSV rows: $(cat "$work/a.csv")"
grep -v '^#' "$work/a.csv" | head -1 | grep -q '^epoch,train_loss,lr,test_loss,test_accuracy,epoch_seconds,images_per_second,planned_mib,peak_rss_mib' \
    && pass || fail "CSV header"
grep -q "^done: test accuracy" "$work/a.log" && pass || fail "no summary line"

# eval reproduces the final epoch's test accuracy
"$BMST_DIST" eval --data "$data" --checkpoint "$work/a.h5" > "$work/eval.log" 2>&1 ||
    fail "eval: $(cat "$work/eval.log")"
csv_acc=$(tail -1 "$work/a.csv" | cut -d, -f5)
eval_acc=$(sed -n 's/.*accuracy \([0-9.]*\)%.*/\1/p' "$work/eval.log")
/usr/bin/python3 -c "import sys; sys.exit(abs($csv_acc*100-$eval_acc) > 0.01)" && pass ||
    fail "eval accuracy $eval_acc% vs training's ${csv_acc}"

# eval ran with --device auto: without a usable GPU one notice says why, and
# where the CUDA backend is built but there is no NVIDIA driver, it says that
# (not that the driver is too old, as the CUDA runtime's own error does)
if grep -q "no GPU (this build has no CUDA backend" "$work/eval.log"; then
    echo "note: this build has no CUDA backend; the no-driver notice is not checked"
elif ! ldconfig -p | grep -q "libcuda\.so\.1 "; then
    grep -q "^bmst_dist: no GPU (no NVIDIA driver: libcuda.so.1 not found); running on the CPU$" \
        "$work/eval.log" && pass || fail "no-driver notice: $(grep 'no GPU' "$work/eval.log")"
fi

# a run killed at any moment leaves the checkpoint whole (old or new)
long=("${train[@]}" --epochs 1000 --max-steps 1 --save "$work/k.h5")
for delay in 1.0 1.7 2.3; do
    "${long[@]}" > /dev/null 2>&1 &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2> /dev/null
    wait "$pid" 2> /dev/null
    if [[ -f "$work/k.h5" ]]; then
        "$BMST_DIST" eval --data "$data" --checkpoint "$work/k.h5" > /dev/null 2>&1 && pass ||
            fail "checkpoint damaged by a kill after ${delay}s"
    fi
done

finish training
