#!/usr/bin/env bash
# The inf/NaN guard end to end: a diverging run ends with one error line
# naming the step as the progress bar counts it, in every precision, and
# leaves no checkpoint; --on-nan skip leaves no inf or NaN in its
# checkpoint; a checkpoint holding inf or NaN is neither written nor
# evaluated; fp16 that skips every step ends with an error.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3 # the system Python, with h5py and numpy

data="$work/d.h5"
"$BMST_DATA" synth --shape 8x8x1 --classes 4 --train 512 --test 64 "$data" > /dev/null ||
    { echo "cannot make the test dataset" >&2; exit 1; }
train=("$BMST_DIST" train --device cpu --data "$data" --net resnet20 --batch 4 --threads 1
       --epochs 1 --max-steps 40)

# without_progress CMD...: CMD with the progress lines that training prints
# on stderr left out of its stderr (kept whole in $work/raw_stderr), so that
# expect_error can ask a run that fails midway for one line: the error
without_progress() {
    local status=0
    "$@" 2> "$work/raw_stderr" || status=$?
    grep -v -E '^epoch [0-9]+/[0-9]+ [0-9]+/[0-9]+ ' "$work/raw_stderr" >&2
    return $status
}
expect_run_error() {
    local name=$1 pattern=$2
    shift 2
    expect_error "$name" "$pattern" without_progress "$@"
}

# the inf and NaN values a checkpoint holds, over every tensor
nonfinite() {
    $PY - "$1" << 'PY'
import sys, h5py, numpy as np
bad = []
def visit(name, item):
    if isinstance(item, h5py.Dataset) and item.dtype.kind == "f":
        bad.append(int((~np.isfinite(item[()])).sum()))
with h5py.File(sys.argv[1], "r") as f:
    f.visititems(visit)
print(sum(bad))
PY
}

# --lr 1e3 diverges within a few steps, while the loss stays finite (ReLU
# turns NaN into 0; the running variances overflow first): every precision
# ends with an error and writes nothing (unguarded, fp32 and bf16 exited 0
# here with hundreds of inf/NaN running statistics in the checkpoint)
for p in fp32 bf16 fp16; do
    expect_run_error "--lr 1e3 $p" "inf or NaN in .* at epoch 1/1, step [0-9]/8: " \
        "${train[@]}" --max-steps 8 --precision "$p" --lr 1e3 --save "$work/lr_$p.h5"
    [[ ! -e "$work/lr_$p.h5" ]] && pass || fail "--lr 1e3 $p wrote a checkpoint"
done

# a NaN that only the gradients show (a batch-norm scale made NaN at global
# step 10: the 3rd of epoch 2's 8), named as the progress bar numbers it:
# its last line before the error counts the 2 steps done
expect_run_error "hidden NaN, fp32" "inf or NaN in the gradients at epoch 2/2, step 3/8: " \
    "${train[@]}" --epochs 2 --max-steps 8 --inject-fault 0:10:nan
tail -2 "$work/raw_stderr" | head -1 | grep -q "^epoch 2/2 2/8 " && pass ||
    fail "the progress bar's last line is not 'epoch 2/2 2/8': $(tail -2 "$work/raw_stderr")"

# finite gradients whose update overflows the weights
expect_run_error "--lr 3e38" "the update at epoch 1/1, step 1/40 made weights inf or NaN" \
    "${train[@]}" --lr 3e38

# --on-nan skip at --lr 1e6: steps are skipped, the running statistics that
# overflowed are put back, and the checkpoint holds no inf or NaN; the
# weights grew too large to evaluate, which eval says
"${train[@]}" --lr 1e6 --on-nan skip --save "$work/skip.h5" > "$work/skip.log" 2>&1 ||
    fail "--on-nan skip run: $(tail -2 "$work/skip.log")"
grep -q "([1-9][0-9]* skipped)" "$work/skip.log" && pass || fail "--on-nan skip skipped nothing"
[[ -e "$work/skip.h5" && $(nonfinite "$work/skip.h5") -eq 0 ]] && pass ||
    fail "--on-nan skip left $(nonfinite "$work/skip.h5") inf/NaN values in its checkpoint"
expect_error "eval of a diverged checkpoint" "gives inf or NaN logits" \
    "$BMST_DIST" eval --device cpu --data "$data" --checkpoint "$work/skip.h5"

# --on-nan skip cannot mend an injected NaN weight: the checkpoint is refused
expect_run_error "NaN weight under skip" "not writing the checkpoint .*bn1.weight holds 1 inf or NaN" \
    "${train[@]}" --max-steps 8 --on-nan skip --inject-fault 0:2:nan --save "$work/nan.h5"
[[ ! -e "$work/nan.h5" ]] && pass || fail "a checkpoint with a NaN weight was written"

# ... and when it makes every step of an epoch skip, nothing was trained
expect_run_error "every step skipped under skip" \
    "every step of epoch 1/1 \(8\) was skipped for inf or NaN gradients: nothing was trained" \
    "${train[@]}" --max-steps 8 --on-nan skip --inject-fault 0:0:nan

# a checkpoint with one inf running variance: eval and resume refuse it
"${train[@]}" --max-steps 4 --epochs 1 --save "$work/good.h5" > /dev/null 2>&1 || fail "clean run"
cp "$work/good.h5" "$work/bad.h5"
$PY - "$work/bad.h5" << 'PY' || fail "cannot poison the checkpoint"
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    f["model/layer2.0.bn1.running_var"][0] = np.inf
PY
expect_error "eval of an inf checkpoint" "layer2.0.bn1.running_var holds 1 inf or NaN" \
    "$BMST_DIST" eval --device cpu --data "$data" --checkpoint "$work/bad.h5"
expect_error "resume from an inf checkpoint" "layer2.0.bn1.running_var holds 1 inf or NaN" \
    "${train[@]}" --max-steps 4 --epochs 2 --resume "$work/bad.h5"

# fp16 from a scale of 1e30: every step of a short run overflows
expect_run_error "fp16, every step skipped" \
    "every step of epoch 1/1 \(20\) was skipped .* the fp16 loss scale came down to 9.5[0-9]*e\+23" \
    "${train[@]}" --precision fp16 --loss-scale 1e30 --max-steps 20 --save "$work/f16.h5"
[[ ! -e "$work/f16.h5" ]] && pass || fail "fp16 with every step skipped wrote a checkpoint"
# ... and with a NaN no scale cures, the scale comes down to its floor (1,
# some 100 halvings from 1e30) and the run ends there
expect_run_error "fp16 at its minimum scale" \
    "inf or NaN in the gradients at epoch 1/1, step 10[0-9]/128 with the fp16 loss scale at its minimum" \
    "${train[@]}" --precision fp16 --loss-scale 1e30 --max-steps 128 --inject-fault 0:0:nan

finish nan_guard
