#!/usr/bin/env bash
# info --max-batch --memory SIZE:
# - the batch it reports plans at most SIZE, and the next batch (a merge
#   factor further) more, by `info --batch`'s own totals;
# - against a real allocation: a training step at the reported batch takes
#   at most SIZE plus the process's fixed part (its peak resident memory less
#   the plan, at a small batch) plus a slack of 16 MiB; a batch planned 48 MiB
#   above SIZE takes more than that, so the check can tell;
# - sizes with units; bad sizes, and --max-batch without --memory, are
#   one-line errors.
source "$(dirname "$0")/lib.sh"

data="$work/synth.h5"
"$BMST_DATA" synth --shape 16x16x3 --classes 4 --train 512 --test 64 "$data" > /dev/null ||
    { echo "cannot make the test dataset" >&2; exit 1; }
net=(--device cpu --net resnet20 --data "$data")
# MiB that info plans in all at batch $1
planned() {
    "$BMST_DIST" info "${net[@]}" --batch "$1" "${@:2}" |
        sed -nE 's/^planned memory on .*: ([0-9.]+) MiB in all$/\1/p'
}
mib_le() { /usr/bin/python3 -c "import sys; sys.exit(not float(sys.argv[1]) <= float(sys.argv[2]))" "$1" "$2"; }

# --- the search against info's totals, with BMST and recomputation ----------
for extra in "" "--merge 2 --recompute bn-relu"; do
    # shellcheck disable=SC2086
    out=$("$BMST_DIST" info "${net[@]}" --max-batch --memory 96MiB $extra 2>&1) ||
        { fail "max-batch $extra: $out"; continue; }
    batch=$(sed -nE 's/^max batch: ([0-9]+)$/\1/p' <<< "$out")
    step=1
    [[ -n $extra ]] && step=2
    # shellcheck disable=SC2086
    at=$(planned "$batch" $extra) next=$(planned $((batch + step)) $extra)
    if [[ -n $at && -n $next ]] && mib_le "$at" 96 && ! mib_le "$next" 96; then pass; else
        fail "max-batch $extra: batch $batch plans '$at' MiB, batch $((batch + step)) '$next' (limit 96)"
    fi
done
"$BMST_DIST" info "${net[@]}" --max-batch --memory 1.5G > "$work/g.log" 2>&1 &&
    grep -q "of the 1536.0 MiB given" "$work/g.log" && pass || fail "1.5G is not 1536 MiB: $(cat "$work/g.log")"
"$BMST_DIST" info "${net[@]}" --max-batch --memory 100MB > "$work/g.log" 2>&1 &&
    grep -q "of the 95.4 MiB given" "$work/g.log" && pass || fail "100MB is not 95.4 MiB: $(cat "$work/g.log")"

# --- against a real allocation -------------------------------------------------
# A step touches its whole plan, so the process's peak resident memory is the
# plan plus a fixed part (the program, libraries, OpenBLAS, the loader),
# measured at a small batch. One arena per malloc: the part threads add stays put.
export MALLOC_ARENA_MAX=1
# rss BATCH: the peak resident MiB of one training step at BATCH
rss() {
    "$BMST_DIST" train "${net[@]}" --batch "$1" --eval-batch "$1" --epochs 1 --max-steps 1 \
        --threads 2 --loader-threads 1 --prefetch 1 --augment off 2> "$work/step.err" |
        sed -nE 's/.*peak [0-9]+ MiB planned \+ ([0-9]+) MiB rss.*/\1/p' | tail -1
}
size=96 slack=16
fixed=$(/usr/bin/python3 -c "import sys; print(round(float(sys.argv[1]) - float(sys.argv[2])))" \
    "$(rss 8)" "$(planned 8)")
batch=$("$BMST_DIST" info "${net[@]}" --max-batch --memory ${size}MiB | sed -nE 's/^max batch: ([0-9]+)$/\1/p')
# a batch planned 3 slacks above the size
over=$("$BMST_DIST" info "${net[@]}" --max-batch --memory $((size + 3 * slack))MiB |
    sed -nE 's/^max batch: ([0-9]+)$/\1/p')
at=$(rss "$batch") above=$(rss "$over")
limit=$((size + fixed + slack))
echo "fixed part $fixed MiB; batch $batch: $at MiB resident, batch $over: $above MiB (limit $limit)"
[[ -n $at && -n $above ]] || fail "no resident memory read: $(head -c 300 "$work/step.err")"
((${at:-99999} <= limit)) && pass ||
    fail "the reported batch $batch takes $at MiB, above $size + fixed $fixed + $slack MiB"
((${above:-0} > limit)) && pass ||
    fail "batch $over, planned $((3 * slack)) MiB above the size, takes only $above MiB: the check cannot tell"

expect_usage "no --memory" "--max-batch and --memory SIZE go together" \
    "$BMST_DIST" info "${net[@]}" --max-batch
expect_usage "a bad size" "--memory expects a size above 0 .* got '12XB'" \
    "$BMST_DIST" info "${net[@]}" --max-batch --memory 12XB
expect_error "nothing fits" "resnet20 does not fit 1.0 MiB at any batch" \
    "$BMST_DIST" info "${net[@]}" --max-batch --memory 1MiB
finish max_batch
