#!/usr/bin/env bash
# --recompute bn-relu|block end to end:
# - training ends bitwise where --recompute none does (every weight, running
#   statistic, optimizer state and attribute of the checkpoint), for resnet20
#   and resnet18 without and with BMST, in fp32 and emulated fp16 (merge 4
#   in bf16), resnet18 with a frozen prefix, the pre-activation resnet164
#   and (bn-relu) densenet121;
# - under --act-codec division, recomputation keeps what it reruns from
#   exactly, so it is not division's run: there, resume is bitwise;
# - resume: 1 epoch + 1 under recomputation == 2 straight epochs of none,
#   and resuming under another mode says so in a note;
# - 2 ranks with --sync-bn end where none does;
# - `info` shows the kept bytes and the arena falling none > bn-relu > block;
# - bad values and a network without residual blocks are one-line errors.
source "$(dirname "$0")/lib.sh"

data="$work/synth.h5"
"$BMST_DATA" synth --shape 16x16x3 --classes 4 --train 128 --test 32 "$data" > /dev/null ||
    { echo "cannot make the test dataset" >&2; exit 1; }
base=("$BMST_DIST" train --device cpu --data "$data" --threads 2 --seed 7 --lr 0.05
      --schedule constant)

# same_as_none NAME ARGS...: each of $modes' checkpoint against none's
modes="bn-relu block"
same_as_none() {
    local name=$1
    shift
    "${base[@]}" "$@" --save "$work/none.h5" > "$work/none.log" 2>&1 ||
        { fail "$name none: $(tail -2 "$work/none.log")"; return; }
    for mode in $modes; do
        "${base[@]}" "$@" --recompute $mode --save "$work/$mode.h5" > "$work/$mode.log" 2>&1 ||
            { fail "$name $mode: $(tail -2 "$work/$mode.log")"; continue; }
        same_but_codec "$work/none.h5" "$work/$mode.h5" 2> "$work/diff.log" && pass ||
            fail "$name: --recompute $mode differs from none: $(tail -1 "$work/diff.log")"
    done
}
r20=(--net resnet20 --batch 32 --epochs 1)
r18=(--net resnet18 --batch 16 --epochs 1 --max-steps 3)
same_as_none "resnet20 fp32" "${r20[@]}"
same_as_none "resnet20 merge 2 fp16" "${r20[@]}" --merge 2 --precision fp16
same_as_none "resnet18 fp32" "${r18[@]}"
same_as_none "resnet18 merge 2 fp16" "${r18[@]}" --merge 2 --precision fp16
same_as_none "resnet20 merge 4 bf16" "${r20[@]}" --max-steps 2 --merge 4 --precision bf16
# with --freeze the frozen prefix keeps nothing and reruns nothing
same_as_none "resnet18 frozen" "${r18[@]}" --freeze conv1,bn1,layer1
# pre-activation blocks (bn -> relu -> conv); a DenseNet's batch norms read
# channel prefixes of their block's concatenation, and it has no residual blocks
few=(--batch 8 --epochs 1 --max-steps 2)
same_as_none "resnet164" --net resnet164 "${few[@]}"
modes=bn-relu same_as_none "densenet121" --net densenet121 "${few[@]}"

# resume: block for one epoch, bn-relu for the second == none straight
two=("${base[@]}" --net resnet20 --batch 32 --merge 2)
"${two[@]}" --epochs 2 --save "$work/straight.h5" > /dev/null 2>&1 || fail "straight run"
"${two[@]}" --epochs 1 --recompute block --save "$work/half.h5" > /dev/null 2>&1 ||
    fail "first half"
"${two[@]}" --epochs 2 --recompute bn-relu --resume "$work/half.h5" --save "$work/half.h5" \
    > "$work/r.log" 2>&1 || fail "resumed half: $(tail -2 "$work/r.log")"
grep -q "note: resuming .* with --recompute bn-relu (was block)" "$work/r.log" && pass ||
    fail "no note of the other --recompute: $(grep note "$work/r.log")"
# the files' attributes differ (the first half planned one epoch): the tensors
for part in /model /optimizer; do
    h5diff -q "$work/straight.h5" "$work/half.h5" $part $part && pass ||
        fail "resumed under recomputation: $part differs from the straight run's"
done

# with division: resume bitwise
div=("${two[@]}" --precision fp16 --act-codec division --recompute bn-relu)
"${div[@]}" --epochs 2 --save "$work/dstraight.h5" > "$work/d.log" 2>&1 ||
    fail "division + bn-relu: $(tail -2 "$work/d.log")"
"${div[@]}" --epochs 1 --save "$work/dhalf.h5" > /dev/null 2>&1 || fail "division first half"
"${div[@]}" --epochs 2 --resume "$work/dhalf.h5" --save "$work/dhalf.h5" > /dev/null 2>&1 ||
    fail "division resumed half"
for part in /model /optimizer; do
    h5diff -q "$work/dstraight.h5" "$work/dhalf.h5" $part $part && pass ||
        fail "division + bn-relu: resumed $part differs"
done

# 2 ranks with --sync-bn (a rerun batch norm all-reduces its statistics again,
# in the same order on every rank): block ends where none does
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
for mode in none block; do
    OMP_NUM_THREADS=1 timeout -k 5 120 mpirun --oversubscribe -np 2 "$BMST_DIST" train \
        --device cpu --threads 1 --data "$data" --seed 7 --lr 0.05 --schedule constant \
        --net resnet20 --batch 16 --merge 2 --epochs 1 --sync-bn --recompute $mode \
        --save "$work/mpi-$mode.h5" > "$work/mpi.log" 2>&1 ||
        fail "2 ranks, --recompute $mode: $(tail -3 "$work/mpi.log")"
done
h5diff -q "$work/mpi-none.h5" "$work/mpi-block.h5" /model /model && pass ||
    fail "2 ranks with --sync-bn: block's weights differ from none's"

# info: what is kept and the arena fall with each mode
info=("$BMST_DIST" info --device cpu --net resnet18 --shape 32x32x3 --batch 32)
for mode in none bn-relu block; do
    "${info[@]}" --recompute $mode > "$work/info-$mode.log" 2>&1 || fail "info $mode"

done
kept_of() { sed -nE 's/.*saved for backward \(.*\): ([0-9.]+) MiB.*/\1/p' "$work/info-$1.log"; }
arena_of() { sed -nE 's/^  training arena: ([0-9.]+) MiB.*/\1/p' "$work/info-$1.log"; }
/usr/bin/python3 -c "import sys; k=[float(x) for x in sys.argv[1:4]]; a=[float(x) for x in sys.argv[4:]]
sys.exit(not (k[0] > k[1] > k[2] and a[0] > a[1] > a[2]))" \
    "$(kept_of none)" "$(kept_of bn-relu)" "$(kept_of block)" \
    "$(arena_of none)" "$(arena_of bn-relu)" "$(arena_of block)" && pass ||
    fail "info: kept $(kept_of none) > $(kept_of bn-relu) > $(kept_of block) and arena" \
        "$(arena_of none) > $(arena_of bn-relu) > $(arena_of block) do not hold"

expect_usage "an unknown mode" "--recompute expects none, bn-relu or block, got 'all'" \
    "${base[@]}" --net resnet20 --recompute all
expect_usage "eval --recompute" "does not apply to eval" \
    "$BMST_DIST" eval --data "$data" --checkpoint "$work/none.h5" --recompute block
expect_error "block without blocks" "--recompute block reruns residual blocks, and densenet121 has none" \
    "$BMST_DIST" info --device cpu --net densenet121 --recompute block
finish recompute
