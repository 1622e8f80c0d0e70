#!/bin/bash
# Several ranks on the CPU with mpirun --oversubscribe: a distributed run is
# the single run it stands for (sync-BN equivalence, evaluation), every rank
# holds the same weights after every step, the report covers every rank, and
# a failing rank ends the whole job quickly with a message naming it.
source "$(dirname "$0")/../cli/lib.sh"
PY=/usr/bin/python3 # the system Python, with h5py and numpy
COMPARE="$(dirname "$0")/compare.py"

# Open MPI refuses root unless told; CI runs as root. One OpenMP thread per
# rank: 4 ranks share 2 cores.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
# every job runs through lib.sh's run_ranks, with a hard limit: a hang fails
# the test instead of stalling CI

"$BMST_DATA" synth --shape 8x8x3 --classes 4 --train 256 --test 70 --seed 1 "$work/d.h5" >/dev/null ||
    { echo "cannot make the dataset"; exit 1; }
common=(--data "$work/d.h5" --net resnet20 --device cpu --threads 1 --epochs 1 --augment off)

# --- equivalence: 4 ranks x batch 8 with --sync-bn == 1 rank x batch 32 -----
"$BMST_DIST" train "${common[@]}" --batch 32 --max-steps 4 --save "$work/one.h5" \
    >"$work/one.log" 2>&1 || fail "single run: $(tail -2 "$work/one.log")"
run_ranks 4 train "${common[@]}" --batch 8 --max-steps 4 --sync-bn --save "$work/four.h5" \
    >"$work/four.log" 2>&1 || fail "4 ranks with --sync-bn: $(tail -2 "$work/four.log")"
if out=$($PY "$COMPARE" weights "$work/one.h5" "$work/four.h5" 1e-4); then pass; else
    fail "4x8 --sync-bn differs from 1x32: $out"
fi
# without --sync-bn the statistics come from 8 samples: the check must notice
run_ranks 4 train "${common[@]}" --batch 8 --max-steps 4 --save "$work/four_local.h5" \
    >"$work/local.log" 2>&1 || fail "4 ranks without --sync-bn: $(tail -2 "$work/local.log")"
if $PY "$COMPARE" weights "$work/one.h5" "$work/four_local.h5" 1e-4 >/dev/null; then
    fail "per-rank batch norm matched 1x32: the comparison cannot tell"
else pass; fi

# --- replicas: bitwise identical weights after every step ------------------
for extra in "--merge 1" "--merge 2" "--merge 2 --grad-comm fp16" "--merge 4 --sync-bn --grad-comm bf16"; do
    # shellcheck disable=SC2086
    if run_ranks 3 train "${common[@]}" --batch 8 --max-steps 6 --check-replicas $extra \
        >"$work/rep.log" 2>&1; then pass; else
        fail "--check-replicas $extra: $(grep error "$work/rep.log" | head -2)"
    fi
done
# a rank whose weights are nudged must be caught, and the job must end
start=$SECONDS
run_ranks 3 train "${common[@]}" --batch 8 --max-steps 6 --check-replicas \
    --inject-fault 1:2:perturb >"$work/perturb.log" 2>&1 && fail "a perturbed replica went unnoticed"
if grep -q "rank 1's weights differ" "$work/perturb.log"; then pass; else
    fail "perturbed replica: $(grep error "$work/perturb.log" | head -2)"
fi

# --- resume: 2 ranks stopped after an epoch and resumed == 2 straight epochs
# (a constant rate: a cosine schedule depends on the --epochs of each part) --
run_ranks 2 train "${common[@]}" --batch 8 --epochs 2 --max-steps 3 --merge 2 --schedule constant \
    --save "$work/straight.h5" >"$work/straight.log" 2>&1 || fail "straight: $(tail -2 "$work/straight.log")"
run_ranks 2 train "${common[@]}" --batch 8 --epochs 1 --max-steps 3 --merge 2 --schedule constant \
    --save "$work/part.h5" >/dev/null 2>&1 &&
    run_ranks 2 train "${common[@]}" --batch 8 --epochs 2 --max-steps 3 --merge 2 --schedule constant \
        --resume "$work/part.h5" --save "$work/resumed.h5" >"$work/resumed.log" 2>&1 ||
    fail "resume under 2 ranks: $(tail -2 "$work/resumed.log")"
if out=$($PY "$COMPARE" weights "$work/straight.h5" "$work/resumed.h5" 0); then pass; else
    fail "2 ranks resumed differ from 2 straight epochs: $out"
fi

# --- evaluation: the test split once across ranks, the single run's figures --
"$BMST_DIST" eval --data "$work/d.h5" --checkpoint "$work/one.h5" --device cpu --threads 1 \
    --eval-batch 16 >"$work/eval1.log" 2>&1 || fail "single eval: $(tail -1 "$work/eval1.log")"
run_ranks 3 eval --data "$work/d.h5" --checkpoint "$work/one.h5" --device cpu --threads 1 \
    --eval-batch 16 >"$work/eval3.log" 2>&1 || fail "3-rank eval: $(tail -1 "$work/eval3.log")"
if out=$($PY "$COMPARE" eval "$work/eval1.log" "$work/eval3.log"); then pass; else
    fail "3-rank evaluation differs from one process's: $out"
fi

# --- the report: every rank, and aggregates that match them -----------------
run_ranks 4 train "${common[@]}" --batch 8 --epochs 2 --max-steps 3 --report "$work/report.json" \
    >"$work/report.log" 2>&1 || fail "report run: $(tail -2 "$work/report.log")"
if out=$($PY "$COMPARE" report "$work/report.json" 4 2); then pass; else fail "report: $out"; fi
grep -q "4 ranks, min/mean/max" "$work/report.log" && pass || fail "no across-ranks line printed"
[[ $(grep -c "^epoch 2/2  train loss" "$work/report.log") -eq 1 ]] && pass ||
    fail "the epoch line is not printed once (rank 0 alone)"
# MPI's thread level: FUNNELED for a CPU run; MULTIPLE where GPUs may be used
# (--device auto or cuda), since the NCCL watchdog aborts from its own thread
grep -q '"mpi_thread_multiple": false' "$work/report.json" && pass ||
    fail "a --device cpu run asked MPI for more than MPI_THREAD_FUNNELED"
run_ranks 2 train "${common[@]}" --device auto --batch 8 --max-steps 2 --report "$work/auto.json" \
    >"$work/auto.log" 2>&1 || fail "--device auto under 2 ranks: $(tail -2 "$work/auto.log")"
grep -q '"mpi_thread_multiple": true' "$work/auto.json" && pass ||
    fail "a --device auto run did not get MPI_THREAD_MULTIPLE"

# --- failure: rank 2 of 4 fails at step 3; the job ends within 30 s ---------
start=$SECONDS
run_ranks 4 train "${common[@]}" --batch 8 --max-steps 6 --inject-fault 2:3 \
    >"$work/fault.out" 2>"$work/fault.err"
status=$?
elapsed=$((SECONDS - start))
[[ $status -ne 0 && $status -ne 124 && $status -ne 137 ]] && pass ||
    fail "injected fault: exit status $status"
((elapsed <= 30)) && pass || fail "injected fault: the job took $elapsed s to end"
if grep -q "rank 2 on [^:]*: error: fault injected by --inject-fault at step 3" "$work/fault.err"; then pass; else
    fail "injected fault: no message naming rank 2: $(head -c 400 "$work/fault.err")"
fi
sleep 1
if pgrep -f "$work/d.h5" >/dev/null; then
    fail "processes left behind: $(pgrep -af "$work/d.h5")"
    pkill -9 -f "$work/d.h5"
else pass; fi

# --- inf or NaN: --on-nan abort names the rank and the step, skip goes on ---
run_ranks 2 train "${common[@]}" --batch 8 --max-steps 6 --lr 1e30 >"$work/nan.out" 2>"$work/nan.err" &&
    fail "--on-nan abort: a diverged run exited 0"
# every rank meets it (the ranks combine what they found): one line, from rank 0
[[ $(grep -c "error:" "$work/nan.err") -eq 1 ]] &&
    grep -q "^bmst_dist: error: inf or NaN in .* at epoch 1/1, step [1-6]/6" "$work/nan.err" && pass ||
    fail "--on-nan abort: $(grep error "$work/nan.err" | head -3)"
if run_ranks 2 train "${common[@]}" --batch 8 --max-steps 6 --lr 1e30 --on-nan skip --check-replicas \
    >"$work/skip.out" 2>&1 && grep -q "skipped)" "$work/skip.out"; then pass; else
    fail "--on-nan skip: $(grep -E "error|skipped" "$work/skip.out" | head -2)"
fi

# --- a bad flag under mpirun: one message, from one rank --------------------
run_ranks 2 train "${common[@]}" --batch 8 --grad-comm fp64 >"$work/flag.out" 2>"$work/flag.err"
[[ $? -eq 2 && $(grep -c "error: --grad-comm expects" "$work/flag.err") -eq 1 ]] && pass ||
    fail "a bad flag under mpirun: $(head -c 400 "$work/flag.err")"

finish "distributed"
