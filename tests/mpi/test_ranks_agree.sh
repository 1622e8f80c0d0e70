#!/bin/bash
# Ranks started with different settings (mpirun's A : B syntax) are stopped at
# start-up with one line naming the first rank that differs, its host and the
# setting, and every rank exits non-zero, quickly; an error every rank hits is
# printed once, and one that a single rank hits is printed and names it.
source "$(dirname "$0")/../cli/lib.sh"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
host=$(hostname)

"$BMST_DATA" synth --shape 8x8x3 --classes 4 --train 256 --test 70 --seed 1 "$work/d.h5" >/dev/null &&
    "$BMST_DATA" synth --shape 8x8x3 --classes 4 --train 300 --test 70 --seed 1 "$work/d300.h5" \
        >/dev/null || { echo "cannot make the datasets"; exit 1; }
common=(train --data "$work/d.h5" --net resnet20 --device cpu --threads 1 --epochs 1 --augment off
    --batch 8)
"$BMST_DIST" "${common[@]}" --max-steps 1 --save "$work/ckpt.h5" >/dev/null 2>&1 ||
    { echo "cannot make the checkpoint"; exit 1; }

# job NAME STATUS PATTERN MPIRUN-ARGS...: the job exits with STATUS within
# 60 s, our stderr is exactly one line matching PATTERN, stdout has no
# training output, and no rank is left behind.
job() {
    local name=$1 status=$2 pattern=$3
    shift 3
    local start=$SECONDS rc=0
    timeout -k 5 60 mpirun --oversubscribe "$@" >"$work/out" 2>"$work/err" || rc=$?
    local ours
    ours=$(grep -c '^bmst_dist: ' "$work/err")
    if [[ $rc -ne $status ]]; then
        fail "$name: exit status $rc, expected $status: $(grep '^bmst_dist' "$work/err" | head -3)"
    elif [[ $ours -ne 1 ]]; then
        fail "$name: $ours lines from bmst_dist, expected 1: $(grep '^bmst_dist' "$work/err" | head -5)"
    elif ! grep -q -E -e "$pattern" "$work/err"; then
        fail "$name: '$(grep '^bmst_dist' "$work/err")' does not match /$pattern/"
    elif grep -q "^epoch" "$work/out"; then
        fail "$name: the ranks trained"
    else
        pass
    fi
    ((SECONDS - start <= 30)) || fail "$name: took $((SECONDS - start)) s"
    if pgrep -f "$work/d" >/dev/null; then
        fail "$name: processes left behind: $(pgrep -af "$work/d")"
        pkill -9 -f "$work/d"
    fi
}

disagree="^bmst_dist: error: the ranks disagree on"
same="every rank must run with the same options and dataset"
job "another --net" 2 "$disagree --net: rank 3 on $host has resnet44, rank 0 on $host has resnet20, as do 2 other ranks; $same" \
    -np 3 "$BMST_DIST" "${common[@]}" : -np 1 "$BMST_DIST" "${common[@]}" --net resnet44
job "another --grad-comm" 2 "$disagree --grad-comm: rank 2 on $host has fp16, rank 0 on $host has fp32" \
    -np 2 "$BMST_DIST" "${common[@]}" : -np 1 "$BMST_DIST" "${common[@]}" --grad-comm fp16
job "another --batch" 2 "$disagree --batch: rank 1 on $host has 16, rank 0 on $host has 8" \
    -np 1 "$BMST_DIST" "${common[@]}" : -np 1 "$BMST_DIST" "${common[@]}" --batch 16
# most ranks agree: the odd one out is named, even where it is rank 0
job "rank 0 is the odd one" 2 "$disagree --sync-bn: rank 0 on $host has on, rank 1 on $host has off, as do 2 other ranks" \
    -np 1 "$BMST_DIST" "${common[@]}" --sync-bn : -np 3 "$BMST_DIST" "${common[@]}"
job "another --seed" 2 "$disagree --seed: rank 1 on $host has 2, rank 0 on $host has 1" \
    -np 1 "$BMST_DIST" "${common[@]}" : -np 1 "$BMST_DIST" "${common[@]}" --seed 2
# the same options, but another file: a difference in the data (exit 1)
job "another dataset" 1 "$disagree the dataset's training samples: rank 2 on $host has 300, rank 0 on $host has 256" \
    -np 2 "$BMST_DIST" "${common[@]}" : -np 1 "$BMST_DIST" "${common[@]}" --data "$work/d300.h5"
job "eval with another --eval-batch" 2 "$disagree --eval-batch: rank 1 on $host has 32, rank 0 on $host has 16" \
    -np 1 "$BMST_DIST" eval --data "$work/d.h5" --checkpoint "$work/ckpt.h5" --device cpu --eval-batch 16 : \
    -np 1 "$BMST_DIST" eval --data "$work/d.h5" --checkpoint "$work/ckpt.h5" --device cpu --eval-batch 32
job "bench with another --steps" 2 "$disagree --steps: rank 1 on $host has 4, rank 0 on $host has 3" \
    -np 1 "$BMST_DIST" bench --device cpu --shape 8x8x3 --batch 8 --steps 3 : \
    -np 1 "$BMST_DIST" bench --device cpu --shape 8x8x3 --batch 8 --steps 4

# errors: every rank's is printed once, without a rank; a single rank's names it
job "a bad option on one rank" 2 "^bmst_dist: rank 2 on $host: error: unknown option '--frobnicate'" \
    -np 2 "$BMST_DIST" "${common[@]}" : -np 1 "$BMST_DIST" "${common[@]}" --frobnicate
job "an unknown model on every rank" 2 "^bmst_dist: error: unknown model 'resnet7'" \
    -np 3 "$BMST_DIST" "${common[@]}" --net resnet7
job "a missing file on every rank" 1 "^bmst_dist: error: $work/missing.h5: No such file" \
    -np 3 "$BMST_DIST" "${common[@]}" --data "$work/missing.h5"
job "a missing file on one rank" 1 "^bmst_dist: rank 1 on $host: error: $work/missing.h5: No such file" \
    -np 1 "$BMST_DIST" "${common[@]}" : -np 1 "$BMST_DIST" "${common[@]}" --data "$work/missing.h5"
job "a model without the mix point, every rank" 2 "^bmst_dist: error: resnet20 has no stage c5" \
    -np 2 "$BMST_DIST" "${common[@]}" --merge 2 --mix-at c5

# ranks that agree train as before; with --device auto and no GPU, only rank
# 0 gives the CPU-fallback notice, naming itself
if timeout -k 5 60 mpirun --oversubscribe -np 3 "$BMST_DIST" "${common[@]}" --max-steps 2 \
    --device auto >"$work/out" 2>"$work/err" && grep -q "^done: " "$work/out"; then pass; else
    fail "three ranks that agree: $(tail -3 "$work/err")"
fi
notices=$(grep -c "no GPU (" "$work/out")
if ((notices > 1)) || { ((notices == 1)) && ! grep -q "^bmst_dist: rank 0 on $host: no GPU (" "$work/out"; }; then
    fail "CPU-fallback notices: $(grep "no GPU" "$work/out")"
else pass; fi

finish "ranks_agree"
