#!/bin/bash
# --comm-timeout on the MPI path: a rank stopped with kill -STOP in the middle
# of training is named, with its host, and the whole job ends within a bound,
# leaving no process behind; ranks that wait in different collectives are
# reported out of step; BMST_NCCL_TIMEOUT_S still sets the default.
source "$(dirname "$0")/../cli/lib.sh"
: "${BMST_OUT_OF_STEP:?set BMST_OUT_OF_STEP to the comm_out_of_step test program}"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
host=$(hostname)
stopped=""
# a stopped rank must never outlive the test, whatever happens to it
trap '[[ -n $stopped ]] && { kill -CONT "$stopped"; kill -KILL "$stopped"; } 2>/dev/null; rm -rf "$work"' EXIT

"$BMST_DATA" synth --shape 8x8x3 --classes 4 --train 256 --test 70 --seed 1 "$work/d.h5" >/dev/null ||
    { echo "cannot make the dataset"; exit 1; }
common=(train --data "$work/d.h5" --net resnet20 --device cpu --threads 1 --augment off --batch 8)

# The processes of this test's jobs that are still alive (zombies are dead).
alive() {
    ps -eo pid=,stat=,args= | awk -v w="$work" 'index($0, w) && $2 !~ /^Z/ && !/awk/'
}

# The PID of rank $1 of the job running on $work/d.h5.
rank_pid() {
    local pid
    for pid in $(pgrep -f "$work/d.h5"); do
        if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1"; then
            echo "$pid"
            return
        fi
    done
}

# --- kill -STOP of rank 1 of 3, --comm-timeout 5 -----------------------------
timeout -k 5 120 mpirun --oversubscribe -np 3 "$BMST_DIST" "${common[@]}" --epochs 1000 \
    --comm-timeout 5 >"$work/out" 2>"$work/err" &
job=$!
for _ in $(seq 300); do # until the ranks train (at most 30 s)
    grep -q "^3 ranks (mpi)" "$work/out" && break
    sleep 0.1
done
sleep 1
stopped=$(rank_pid 1)
if [[ -z $stopped ]]; then
    fail "kill -STOP: rank 1 not found: $(tail -3 "$work/err")"
    kill "$job"
else
    kill -STOP "$stopped"
    start=$SECONDS
    wait "$job"
    status=$?
    elapsed=$((SECONDS - start))
    [[ $status -ne 0 && $status -ne 124 && $status -ne 137 ]] && pass ||
        fail "kill -STOP: exit status $status"
    # 5 s of waiting, 2 s for the ranks' answers, and the abort
    ((elapsed <= 25)) && pass || fail "kill -STOP: the job took $elapsed s to end"
    named="^bmst_dist: rank 0 on $host: error: rank 1 on $host stopped answering: the other ranks waited [0-9.]+ s for it in"
    [[ $(grep -c '^bmst_dist: ' "$work/err") -eq 1 ]] && grep -q -E "$named" "$work/err" && pass ||
        fail "kill -STOP: the message does not name rank 1 once: $(grep -v '^epoch' "$work/err" | head -4)"
    grep -q -- "(--comm-timeout 5)$" "$work/err" && pass || fail "kill -STOP: the limit is not given"
    sleep 1
    if [[ -n $(alive) ]]; then fail "kill -STOP: processes left behind: $(alive)"; else pass; fi
    kill -CONT "$stopped" 2>/dev/null
    kill -KILL "$stopped" 2>/dev/null
    stopped=""
fi

# --- two live ranks in different collectives: out of step -------------------
start=$SECONDS
timeout -k 5 60 mpirun --oversubscribe -np 2 "$BMST_OUT_OF_STEP" 1 "$work/d.h5" \
    >"$work/out" 2>"$work/err"
status=$?
elapsed=$((SECONDS - start))
[[ $status -ne 0 && $status -ne 124 && $status -ne 137 ]] && pass ||
    fail "out of step: exit status $status ($(cat "$work/out" "$work/err" | head -3))"
((elapsed <= 20)) && pass || fail "out of step: the job took $elapsed s to end"
step="^bmst_dist: rank 0 on $host: error: the ranks are out of step: rank 1 on $host waits in a broadcast \(collective 2\) while rank 0 on $host waits in a gather \(collective 2\)"
[[ $(grep -c '^bmst_dist: ' "$work/err") -eq 1 ]] && grep -q -E "$step" "$work/err" && pass ||
    fail "out of step: $(grep '^bmst_dist' "$work/err" | head -3)"

# --- BMST_NCCL_TIMEOUT_S, the older name, sets the default; the option wins --
BMST_NCCL_TIMEOUT_S=7 timeout -k 5 60 mpirun --oversubscribe -np 2 "$BMST_DIST" "${common[@]}" \
    --epochs 1 --max-steps 1 >"$work/out" 2>"$work/err"
grep -q "a collective waits at most 7 s (--comm-timeout)" "$work/out" && pass ||
    fail "BMST_NCCL_TIMEOUT_S=7: $(head -3 "$work/out") $(tail -2 "$work/err")"
BMST_NCCL_TIMEOUT_S=7 timeout -k 5 60 mpirun --oversubscribe -np 2 "$BMST_DIST" "${common[@]}" \
    --epochs 1 --max-steps 1 --comm-timeout 9 >"$work/out" 2>"$work/err"
grep -q "a collective waits at most 9 s (--comm-timeout)" "$work/out" && pass ||
    fail "--comm-timeout 9 over BMST_NCCL_TIMEOUT_S=7: $(head -3 "$work/out")"

finish "comm_timeout"
