#!/bin/bash
# revnet38 on 2 ranks (mpirun --oversubscribe): the reversible units'
# gradients reach the bucketed all-reduce in order, so every rank holds the
# same weights after every step (--check-replicas), with the merge and with
# --sync-bn, whose statistics the units' batch norms take across ranks
# (4 ranks x 4 with --sync-bn == 1 rank x 16).
source "$(dirname "$0")/../cli/lib.sh"
PY=/usr/bin/python3
COMPARE="$(dirname "$0")/compare.py"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
run_ranks() {
    local n=$1
    shift
    timeout -k 5 120 mpirun --oversubscribe -np "$n" "$BMST_DIST" "$@"
}

"$BMST_DATA" synth --shape 8x8x3 --classes 4 --train 128 --test 32 --seed 1 "$work/d.h5" >/dev/null ||
    { echo "cannot make the dataset"; exit 1; }
common=(--data "$work/d.h5" --net revnet38 --device cpu --threads 1 --epochs 1 --augment off
        --bucket-mib 1)

for extra in "--merge 2" "--sync-bn"; do
    # shellcheck disable=SC2086
    if run_ranks 2 train "${common[@]}" --batch 8 --max-steps 3 --check-replicas $extra \
        >"$work/rep.log" 2>&1; then pass; else
        fail "--check-replicas $extra: $(grep error "$work/rep.log" | head -2)"
    fi
done

"$BMST_DIST" train "${common[@]}" --batch 16 --max-steps 3 --save "$work/one.h5" \
    >"$work/one.log" 2>&1 || fail "single run: $(tail -2 "$work/one.log")"
run_ranks 4 train "${common[@]}" --batch 4 --max-steps 3 --sync-bn --save "$work/four.h5" \
    >"$work/four.log" 2>&1 || fail "4 ranks with --sync-bn: $(tail -2 "$work/four.log")"
if out=$($PY "$COMPARE" weights "$work/one.h5" "$work/four.h5" 1e-4); then pass; else
    fail "4x4 --sync-bn differs from 1x16: $out"
fi
# without --sync-bn the statistics come from 4 samples: the check must notice
run_ranks 4 train "${common[@]}" --batch 4 --max-steps 3 --save "$work/local.h5" \
    >"$work/local.log" 2>&1 || fail "4 ranks without --sync-bn: $(tail -2 "$work/local.log")"
if $PY "$COMPARE" weights "$work/one.h5" "$work/local.h5" 1e-4 >/dev/null; then
    fail "per-rank batch norm matched 1x16: the comparison cannot tell"
else pass; fi

finish test_revnet_ranks
