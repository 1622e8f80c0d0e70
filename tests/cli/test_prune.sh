#!/usr/bin/env bash
# Gradual pruning end to end (docs/cli.md, "Pruning"): the checkpoint's mask
# and zeros follow the schedule in both scopes, with momentum and weight
# decay on (prune_check.py); the CSV and the epoch line report the sparsity;
# a resumed pruned run continues bitwise (weights, momentum and mask); and
# bad pruning options, a pruned checkpoint resumed without them or with
# other values give one line. Needs /usr/bin/python3 with h5py and numpy.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
CHECK="$(dirname "$0")/prune_check.py"

data="$work/synth.h5"
"$BMST_DATA" synth --shape 8x8x3 --classes 4 --train 256 --test 32 "$data" > /dev/null ||
    { echo "cannot make the test dataset" >&2; exit 1; }
# 8 steps per epoch; pruning from step 4 (epoch 0.5) to step 12 (epoch 1.5)
# every 3 steps, so the resumed half below starts in the middle of it
train=("$BMST_DIST" train --device cpu --data "$data" --net resnet20 --batch 32 --threads 2
       --seed 3 --lr 0.05 --weight-decay 5e-3 --prune-to 0.7 --prune-start 0.5 --prune-end 1.5
       --prune-every 3)

# --- the schedule in the checkpoint and the CSV, both scopes -----------------
for scope in global layer; do
    "${train[@]}" --epochs 2 --prune-scope $scope --save "$work/$scope.h5" \
        --csv "$work/$scope.csv" > "$work/$scope.log" 2>&1 ||
        fail "$scope run: $(tail -3 "$work/$scope.log")"
    if out=$($PY "$CHECK" "$work/$scope.h5" $scope 0.7 4 12 3 8 "$work/$scope.csv" 2>&1); then pass
    else fail "$scope scope: $out"; fi
    grep -q "epoch 1/2 .* sparsity 52\.91%" "$work/$scope.log" && pass ||
        fail "$scope: the epoch line does not give the sparsity: $(grep '^epoch 1/2' "$work/$scope.log")"
done
# the scopes prune differently
h5diff -q "$work/global.h5" "$work/layer.h5" /prune_mask /prune_mask > /dev/null &&
    fail "global and layer scopes chose the same mask" || pass

# --- stopped (SIGTERM) and resumed == straight, bitwise ---------------------
# stopped after step 7 (a mask update inside the first epoch) and after step
# 9 (between updates, in the second epoch); the first stop's checkpoint holds
# the schedule's share at step 7
"${train[@]}" --epochs 2 --save "$work/a.h5" > /dev/null 2>&1 || fail "straight run"
for at in 6 8; do
    "${train[@]}" --epochs 2 --save "$work/r$at.h5" --inject-fault 0:$at:sigterm \
        > "$work/r$at.log" 2>&1
    [[ -f "$work/r$at.h5" ]] || fail "stop after step $((at + 1)): no checkpoint: $(tail -2 "$work/r$at.log")"
    if out=$($PY "$CHECK" "$work/r$at.h5" global 0.7 4 12 3 8 2>&1); then pass
    else fail "stopped after step $((at + 1)): $out"; fi
    "${train[@]}" --epochs 2 --resume "$work/r$at.h5" --save "$work/r$at.h5" \
        > "$work/r$at.log" 2>&1 || fail "resumed after step $((at + 1)): $(tail -3 "$work/r$at.log")"
    for part in /model /optimizer /prune_mask; do
        h5diff -q "$work/a.h5" "$work/r$at.h5" $part $part && pass ||
            fail "resumed after step $((at + 1)): $part differs"
    done
done

# --- one clear line for what cannot be -------------------------------------
plain=("$BMST_DIST" train --device cpu --data "$data" --net resnet20 --batch 32 --threads 2
       --seed 3 --epochs 2)
expect_usage "--prune-to 1" "--prune-to must be below 1" "${plain[@]}" --prune-to 1
expect_usage "--prune-to -0.1" "--prune-to must be at least 0" "${plain[@]}" --prune-to -0.1
expect_usage "--prune-end beyond --epochs" "--prune-end 3 is beyond the run's 2 epochs" \
    "${plain[@]}" --prune-to 0.5 --prune-end 3
expect_usage "--prune-start after --prune-end" "--prune-start 1.5 is after --prune-end 1" \
    "${plain[@]}" --prune-to 0.5 --prune-start 1.5 --prune-end 1
expect_usage "--prune-every without --prune-to" "need --prune-to" "${plain[@]}" --prune-every 5
expect_usage "--prune-scope bogus" "--prune-scope expects global or layer, got 'bogus'" \
    "${plain[@]}" --prune-to 0.5 --prune-scope bogus
expect_usage "--prune-every 0" "--prune-every must be at least 1" \
    "${plain[@]}" --prune-to 0.5 --prune-every 0
expect_error "a pruned checkpoint resumed dense" "was pruned .* resume it with --prune-to" \
    "${plain[@]}" --epochs 3 --resume "$work/a.h5"
# a pruned run resumes with its own --prune-* settings (docs/cli.md,
# "Pruning"): others are one line, the same ones extend it
expect_error "resumed with another --prune-to" \
    "a.h5 was pruned with --prune-to 0.7 --prune-start 0.5 --prune-end 1.5 --prune-every 3 --prune-scope global; this run's are --prune-to 0.6 " \
    "${train[@]/0.7/0.6}" --epochs 2 --resume "$work/a.h5"
expect_error "resumed with another --prune-scope" "this run's are .* --prune-scope layer: resume with its settings" \
    "${train[@]}" --epochs 2 --prune-scope layer --resume "$work/a.h5"
expect_error "resumed with another --epochs, --prune-end not given" "this run's are .* --prune-end 3 " \
    "${plain[@]}" --epochs 3 --prune-to 0.7 --prune-start 0.5 --prune-every 3 --resume "$work/a.h5"
"${train[@]}" --epochs 3 --resume "$work/a.h5" --save "$work/longer.h5" > "$work/longer.log" 2>&1 &&
    pass || fail "resumed with its settings and a longer --epochs: $(tail -1 "$work/longer.log")"
# a mask of the wrong length
cp "$work/a.h5" "$work/short.h5"
$PY -c 'import h5py, sys
with h5py.File(sys.argv[1], "r+") as f:
    m = f["prune_mask"][()]
    del f["prune_mask"]
    f["prune_mask"] = m[:-1]' "$work/short.h5" || fail "cannot shorten the mask"
expect_error "a mask of the wrong length" "short.h5 is damaged or not ours: its /prune_mask is not [0-9]+ words" \
    "${train[@]}" --epochs 3 --prune-end 1.5 --resume "$work/short.h5"

finish prune
