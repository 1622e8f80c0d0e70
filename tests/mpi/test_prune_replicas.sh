#!/bin/bash
# Pruning on 2 ranks (docs/cli.md, "Pruning"): every rank chooses the same
# mask and applies it alike, so --check-replicas finds the ranks' weights and
# optimizer state bitwise identical after every step, and the checkpoint
# holds the schedule's sparsity (tests/cli/prune_check.py).
source "$(dirname "$0")/../cli/lib.sh"
PY=/usr/bin/python3 # the system Python, with h5py and numpy
CHECK="$(dirname "$0")/../cli/prune_check.py"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
"$BMST_DATA" synth --shape 8x8x3 --classes 4 --train 256 --test 32 --seed 1 "$work/d.h5" >/dev/null ||
    { echo "cannot make the dataset"; exit 1; }
# 8 steps per epoch on each rank; pruning from step 2 to step 14, every 2
for scope in global layer; do
    if timeout -k 5 120 mpirun --oversubscribe -np 2 "$BMST_DIST" train --data "$work/d.h5" \
        --net resnet20 --device cpu --threads 1 --epochs 2 --batch 16 --augment off \
        --prune-to 0.6 --prune-start 0.25 --prune-end 1.75 --prune-every 2 --prune-scope $scope \
        --check-replicas --save "$work/$scope.h5" > "$work/$scope.log" 2>&1; then pass
    else fail "2 ranks, $scope scope: $(grep -i error "$work/$scope.log" | head -2)"; fi
    if out=$($PY "$CHECK" "$work/$scope.h5" $scope 0.6 2 14 2 8 2>&1); then pass
    else fail "2 ranks, $scope scope: $out"; fi
done
finish prune_replicas
