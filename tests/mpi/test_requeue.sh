#!/bin/bash
# Stopping and requeueing (docs/cli.md, "Stopping and requeueing"): a run
# sent SIGTERM or SIGUSR1 finishes its step, every rank agrees, it writes a
# checkpoint at that step and exits 3; `--resume auto` continues it and ends
# on bitwise the weights, optimizer state and running statistics of a run
# never stopped: one process (fp16 with AdamW: the loss scale and Adam's
# count), 4 ranks stopped inside an epoch by a signal only rank 2 receives
# (each rank's own batch-norm statistics must come back), 4 ranks whose
# mpirun is sent SIGUSR1 from outside, and 4 ranks one of which is sent
# SIGTERM from outside. Also --save-every, --keep-best and the
# command-line errors.
source "$(dirname "$0")/../cli/lib.sh"
PY=/usr/bin/python3 # the system Python, with h5py and numpy
COMPARE="$(dirname "$0")/compare.py"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
# attr FILE NAME: a checkpoint's root attribute
attr() {
    $PY -c "import h5py, sys; print(h5py.File(sys.argv[1], 'r').attrs[sys.argv[2]])" "$1" "$2"
}
# same A B WHAT: two checkpoints hold bitwise the same tensors
same() {
    local out
    if out=$($PY "$COMPARE" weights "$1" "$2" 0); then pass; else fail "$3: $out"; fi
}

"$BMST_DATA" synth --shape 8x8x3 --classes 4 --train 1024 --test 64 --seed 1 "$work/d.h5" >/dev/null ||
    { echo "cannot make the dataset"; exit 1; }
# 32 steps an epoch at a global batch of 32; BMST's lambda and augmentation
# on, so a resumed epoch must draw what the stopped one would have
common=(--data "$work/d.h5" --net resnet20 --device cpu --threads 1 --merge 2 --augment on)

# --- one process: fp16 and AdamW, stopped by its own SIGTERM at step 40 -----
one=("${common[@]}" --batch 32 --epochs 2 --precision fp16 --optimizer adamw --loss-scale 256)
"$BMST_DIST" train "${one[@]}" --save "$work/one.h5" --csv "$work/one.csv" >"$work/one.log" 2>&1 ||
    fail "one process, straight: $(tail -2 "$work/one.log")"
status=0
"$BMST_DIST" train "${one[@]}" --save "$work/one_r.h5" --resume auto --csv "$work/one_r.csv" \
    --inject-fault 0:39:sigterm >"$work/one_a.log" 2>&1 || status=$?
[[ $status -eq 3 ]] && pass || fail "one process, SIGTERM: exit status $status, expected 3"
grep -q "^--resume auto: no checkpoint at .* yet; starting a new run" "$work/one_a.log" && pass ||
    fail "--resume auto without a checkpoint: no notice"
grep -q "^stopped by SIGTERM after step 8/32 of epoch 2/2 (step 40 of the run): checkpoint" \
    "$work/one_a.log" && pass || fail "one process: $(grep stopped "$work/one_a.log")"
[[ $(attr "$work/one_r.h5" epoch_steps) == 8 && $(attr "$work/one_r.h5" step) == 40 ]] && pass ||
    fail "one process: the checkpoint is not at step 8 of epoch 2"
"$BMST_DIST" train "${one[@]}" --save "$work/one_r.h5" --resume auto --csv "$work/one_r.csv" \
    >"$work/one_b.log" 2>&1 || fail "one process, resumed: $(tail -2 "$work/one_b.log")"
grep -q "^resumed from .* at epoch 1, step 40" "$work/one_b.log" && pass ||
    fail "one process: $(grep resumed "$work/one_b.log")"
same "$work/one.h5" "$work/one_r.h5" "one process stopped and resumed"
# the CSV has each epoch once, with the train loss of the whole epoch (its
# description, "# " lines, differs between the runs: the rows are compared)
rows() { grep -v '^#' "$1" | cut -d, -f1-5; }
if cmp -s <(rows "$work/one.csv") <(rows "$work/one_r.csv"); then pass; else
    fail "the resumed CSV differs: $(diff <(rows "$work/one.csv") <(rows "$work/one_r.csv"))"
fi

# --- 4 ranks: only rank 2 gets SIGTERM, at step 45 (epoch 2) -----------------
four=("${common[@]}" --batch 8 --epochs 3)
run_ranks 4 train "${four[@]}" --save "$work/four.h5" >"$work/four.log" 2>&1 ||
    fail "4 ranks, straight: $(tail -2 "$work/four.log")"
status=0
run_ranks 4 train "${four[@]}" --save "$work/four_r.h5" --resume auto \
    --inject-fault 2:44:sigterm >"$work/four_a.log" 2>&1 || status=$?
[[ $status -eq 3 ]] && pass || fail "4 ranks, SIGTERM to rank 2: exit status $status, expected 3"
# every rank stopped after the same step: rank 0 wrote the checkpoint there
grep -q "^stopped by SIGTERM after step 13/32 of epoch 2/3 (step 45 of the run)" "$work/four_a.log" &&
    pass || fail "4 ranks: $(grep -a stopped "$work/four_a.log")"
[[ $(attr "$work/four_r.h5" epoch_steps) == 13 ]] && pass || fail "4 ranks: not at step 13"
$PY -c "import h5py, sys; assert h5py.File(sys.argv[1], 'r')['rank_buffers'].shape[0] == 4" \
    "$work/four_r.h5" && pass || fail "4 ranks: no running statistics for every rank"
run_ranks 4 train "${four[@]}" --save "$work/four_r.h5" --resume auto >"$work/four_b.log" 2>&1 ||
    fail "4 ranks, resumed: $(tail -2 "$work/four_b.log")"
same "$work/four.h5" "$work/four_r.h5" "4 ranks stopped by rank 2's SIGTERM and resumed"

# start_stoppable CKPT LOG: 4 ranks under mpirun in the background, saving
# CKPT every 8 steps, until --save-every's first checkpoint exists (mpirun not
# under timeout, which a signal meant for it would end: a watchdog ends it
# instead if it hangs); sets job and watchdog
start_stoppable() {
    rm -f "$1"
    mpirun --oversubscribe -np 4 "$BMST_DIST" train "${four[@]}" --save "$1" \
        --resume auto --save-every 8 >"$2" 2>&1 &
    job=$!
    (sleep 120 && kill -9 "$job") >/dev/null 2>&1 &
    watchdog=$!
    for ((i = 0; i < 1500; i++)); do [[ -e "$1" ]] && break; sleep 0.02; done
}

# wait_stopped: the exit status of the job start_stoppable started, the
# watchdog gone
wait_stopped() {
    status=0
    wait "$job" || status=$?
    pkill -P "$watchdog" 2>/dev/null # its sleep
    kill "$watchdog" 2>/dev/null
}

# --- 4 ranks: SIGUSR1 to mpirun (which passes it on) after --save-every's
# first checkpoint, as `scancel --signal=USR1` or sbatch --signal would -------
start_stoppable "$work/usr1.h5" "$work/usr1_a.log"
kill -USR1 "$job"
wait_stopped
[[ $status -eq 3 ]] && pass || fail "SIGUSR1 to mpirun: exit status $status, expected 3"
grep -q "^stopped by SIGUSR1 after .*: checkpoint" "$work/usr1_a.log" && pass ||
    fail "SIGUSR1 to mpirun: $(grep -a -E "stopped|error" "$work/usr1_a.log" | head -2)"
run_ranks 4 train "${four[@]}" --save "$work/usr1.h5" --resume auto --save-every 8 \
    >"$work/usr1_b.log" 2>&1 || fail "SIGUSR1, resumed: $(tail -2 "$work/usr1_b.log")"
same "$work/four.h5" "$work/usr1.h5" "4 ranks stopped by SIGUSR1 and resumed"

# --- 4 ranks: SIGTERM from outside to one rank's process (as `kill` or a
# node's own SIGTERM would), after --save-every's first checkpoint -----------
start_stoppable "$work/term.h5" "$work/term_a.log"
rank=$(pgrep -P "$job" | tail -1) # one of mpirun's children: a rank
[[ -n $rank ]] && kill -TERM "$rank"
wait_stopped
[[ $status -eq 3 ]] && grep -q "^stopped by SIGTERM after .*: checkpoint" "$work/term_a.log" && pass ||
    fail "SIGTERM to one rank: exit status $status: $(grep -a -E "stopped|error" "$work/term_a.log" | head -2)"
run_ranks 4 train "${four[@]}" --save "$work/term.h5" --resume auto --save-every 8 \
    >"$work/term_b.log" 2>&1 || fail "SIGTERM, resumed: $(tail -2 "$work/term_b.log")"
same "$work/four.h5" "$work/term.h5" "4 ranks, one sent SIGTERM from outside, resumed"

# --- --keep-best: the checkpoint of the epoch with the best test accuracy ---
"$BMST_DIST" train "${common[@]}" --batch 32 --epochs 4 --lr 0.3 --csv "$work/best.csv" \
    --keep-best "$work/best.h5" >"$work/best.log" 2>&1 || fail "--keep-best: $(tail -2 "$work/best.log")"
want=$($PY -c "
import csv, sys
rows = list(csv.DictReader(l for l in open(sys.argv[1]) if not l.startswith('#')))
acc = [float(r['test_accuracy']) for r in rows]
print(int(rows[acc.index(max(acc))]['epoch']))" "$work/best.csv")
[[ $(attr "$work/best.h5" epoch) == "$want" && $(attr "$work/best.h5" best_epoch) == "$want" ]] &&
    pass || fail "--keep-best holds epoch $(attr "$work/best.h5" epoch), the best is $want"

# --- no --save: the run still stops at a step boundary, keeping nothing -----
status=0
"$BMST_DIST" train "${common[@]}" --batch 32 --epochs 1 --inject-fault 0:3:sigterm \
    >"$work/nosave.log" 2>&1 || status=$?
[[ $status -eq 3 ]] && grep -q "^stopped by SIGTERM after step 4/32 .*: nothing kept (no --save)" \
    "$work/nosave.log" && pass || fail "a stop without --save: status $status"

# --- command-line errors -----------------------------------------------------
expect_usage "--resume auto without --save" "resume auto needs --save PATH" \
    "$BMST_DIST" train "${common[@]}" --resume auto
expect_usage "--save-every without --save" "save-every needs --save PATH" \
    "$BMST_DIST" train "${common[@]}" --save-every 10
expect_usage "--keep-best on --save's file" "keep-best.*--save|--save.*keep-best" \
    "$BMST_DIST" train "${common[@]}" --save "$work/x.h5" --keep-best "$work/x.h5"

finish "requeue"
