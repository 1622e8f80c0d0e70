#!/usr/bin/env bash
# Pruning and int8 on the CPU (docs/pruning.md, "Measured"): resnet20 and
# resnet44 on Fashion-MNIST (the whole 60k training and 10k test split), one
# recipe for all: EPOCHS epochs, batch 128, cosine from --lr 0.1, and for the
# pruned runs --prune-to 0.6 or 0.7 from epoch PRUNE_START to PRUNE_END
# (mask updates every 50 steps, global scope). Two parts, each writing its raw
# output and its commands under OUT (default bench/results/cpu-DATE-prune-int8):
#   train    the six trainings, one at a time
#   measure  per run: eval (fp32) and eval --int8 on the test split, the
#            ONNX fp32 and int8 (calibrated on 8 batches) exports and the
#            compact int8 HDF5, onnxruntime's accuracy of the int8 ONNX and
#            its agreement with the fp32 one, the sizes, and table.md
# Usage: bench/prune_int8.sh [train] [measure] (default: both)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BMST_DIST=${BMST_DIST:-$ROOT/build/bmst_dist}
BMST_DATA=${BMST_DATA:-$ROOT/build/bmst_data}
OUT=${OUT:-$ROOT/bench/results/cpu-$(date -u +%Y%m%d-%H%M%S)-prune-int8}
# the dataset, checkpoints and exports (tens of MB: not for the repository)
WORK=${WORK:-$OUT/files}
THREADS=${THREADS:-2}
EPOCHS=${EPOCHS:-5}
PRUNE_START=${PRUNE_START:-1}
PRUNE_END=${PRUNE_END:-3}
FASHION_MNIST=${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
NETS=(${NETS:-resnet20 resnet44})
SPARSITIES=(${SPARSITIES:-0 0.6 0.7})
PY=/usr/bin/python3
export OMP_WAIT_POLICY=passive
parts=("$@")
[[ ${#parts[@]} -gt 0 ]] || parts=(train measure)
mkdir -p "$OUT" "$WORK"
log() { # NAME CMD...
    local name=$1
    shift
    echo "\$ $* > $name" >> "$OUT/commands.txt"
    "$@" > "$OUT/$name" 2>&1 || { tail -3 "$OUT/$name"; exit 1; }
}
data=$WORK/fashion-mnist.h5
[[ -e $data ]] || log convert.txt "$BMST_DATA" convert fashion-mnist "$FASHION_MNIST" "$data"

run_name() { # NET SPARSITY
    [[ $2 == 0 ]] && echo "$1-dense" || echo "$1-s${2#0.}0"
}

train() {
    echo "# train: $(date -u +%FT%TZ) on $(nproc) cores; uptime: $(uptime); commit $(git -C "$ROOT" rev-parse HEAD)" >> "$OUT/commands.txt"
    for net in "${NETS[@]}"; do
        for s in "${SPARSITIES[@]}"; do
            local name prune=()
            name=$(run_name "$net" "$s")
            [[ $s == 0 ]] || prune=(--prune-to "$s" --prune-start "$PRUNE_START" --prune-end "$PRUNE_END"
                                   --prune-every 50)
            log "train-$name.txt" "$BMST_DIST" train --device cpu --threads "$THREADS" --net "$net" \
                --data "$data" --epochs "$EPOCHS" --batch 128 --lr 0.1 --seed 1 "${prune[@]}" \
                --save "$WORK/$name.h5" --csv "$OUT/train-$name.csv"
        done
    done
}

measure() {
    # onnxruntime's view of the int8 ONNX: the venv of tests/cli/lib.sh's onnx_venv
    venv=${BMST_ONNX_VENV:-$HOME/.cache/bmst_dist/onnx-venv}
    mkdir -p "$WORK/inputs"
    [[ -e $WORK/inputs/x.npy ]] || $PY "$ROOT/tests/cli/onnx_check.py" prepare "$data" "$WORK/inputs"
    echo "# measure: $(date -u +%FT%TZ) on $(nproc) cores; uptime: $(uptime); commit $(git -C "$ROOT" rev-parse HEAD)" >> "$OUT/commands.txt"
    for net in "${NETS[@]}"; do
        for s in "${SPARSITIES[@]}"; do
            local name
            name=$(run_name "$net" "$s")
            log "eval-$name.txt" "$BMST_DIST" eval --device cpu --threads "$THREADS" --data "$data" \
                --checkpoint "$WORK/$name.h5"
            log "eval-int8-$name.txt" "$BMST_DIST" eval --device cpu --threads "$THREADS" --int8 \
                --data "$data" --checkpoint "$WORK/$name.h5"
            log "export-onnx-$name.txt" "$BMST_DIST" export --checkpoint "$WORK/$name.h5" \
                --out "$WORK/$name.onnx"
            log "export-onnx-int8-$name.txt" "$BMST_DIST" export --int8 --calibrate 8 --data "$data" \
                --checkpoint "$WORK/$name.h5" --out "$WORK/$name.int8.onnx"
            log "export-h5-$name.txt" "$BMST_DIST" export --format int8-h5 \
                --checkpoint "$WORK/$name.h5" --out "$WORK/$name.int8.h5"
            log "onnx-agree-$name.txt" "$venv/bin/python" "$ROOT/tests/cli/onnx_check.py" agree \
                "$WORK/$name.onnx" "$WORK/$name.int8.onnx" "$WORK/inputs" 0
        done
    done
    $PY "$ROOT/bench/tools/prune_int8_table.py" "$OUT" "$WORK" "${NETS[@]}" > "$OUT/table.md"
    cat "$OUT/table.md"
}

for part in "${parts[@]}"; do
    "$part"
done
