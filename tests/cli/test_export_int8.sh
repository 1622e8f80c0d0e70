#!/usr/bin/env bash
# The int8 ONNX export of a trained model (docs/cli.md, "export"): resnet20
# trained briefly on 4000 Fashion-MNIST images, exported with int8 weights
# and uint8 activations calibrated on 4 training batches, predicts as the
# fp32 export (which gives `bmst_dist eval`'s loss) on at least 99% of 2000
# test images in onnxruntime; eval --int8 loses at most 1 point of accuracy.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3 # the system Python, with h5py, prepares the inputs
HERE=$(dirname "$0")
CHECK="$HERE/onnx_check.py"
FASHION_MNIST=${BMST_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
onnx_venv

mkdir -p "$work/src" && $PY "$HERE/idx_subset.py" "$FASHION_MNIST" "$work/src" 4000 2000 ||
    { echo "FAIL: cannot cut the Fashion-MNIST subset"; exit 1; }
BMST_FASHION_MNIST="$work/src" convert_fashion_mnist "$work/fm.h5"
mkdir -p "$work/inputs"
$PY "$CHECK" prepare "$work/fm.h5" "$work/inputs" || { echo "FAIL: cannot prepare the inputs"; exit 1; }
"$BMST_DIST" train --device cpu --threads 2 --data "$work/fm.h5" --net resnet20 --epochs 2 \
    --batch 64 --lr 0.1 --seed 3 --save "$work/fm_resnet20.h5" > "$work/train.log" 2>&1 ||
    { echo "FAIL: training: $(tail -1 "$work/train.log")"; exit 1; }

score() { # CHECKPOINT [FLAGS...]: "LOSS ACCURACY" of eval on the test split
    local ckpt=$1
    shift
    "$BMST_DIST" eval --device cpu --threads 2 --data "$work/fm.h5" --checkpoint "$ckpt" "$@" \
        2> /dev/null | sed -n 's/.* loss \([0-9.]*\), accuracy \([0-9.]*\)%.*/\1 \2/p'
}
read -r loss acc <<< "$(score "$work/fm_resnet20.h5")"
read -r loss8 acc8 <<< "$(score "$work/fm_resnet20.h5" --int8)"
[[ -n $acc && -n $acc8 ]] && $PY -c "import sys; sys.exit(not (float('$acc') > 60 and float('$acc') - float('$acc8') <= 1))" &&
    pass || fail "eval: accuracy '$acc'% fp32, '$acc8'% with --int8 (want above 60 and within 1 point)"

"$BMST_DIST" export --checkpoint "$work/fm_resnet20.h5" --out "$work/fp32.onnx" > /dev/null &&
    out=$("$venv/bin/python" "$CHECK" check "$work/fp32.onnx" "$work/inputs" "$loss" "$acc" 2>&1) &&
    pass || fail "fp32 ONNX: $(tail -2 <<< "$out")"
if "$BMST_DIST" export --checkpoint "$work/fm_resnet20.h5" --int8 --calibrate 4 --data "$work/fm.h5" \
    --out "$work/int8.onnx" > "$work/export.log" 2>&1 &&
    out=$("$venv/bin/python" "$CHECK" agree "$work/fp32.onnx" "$work/int8.onnx" "$work/inputs" 99 2>&1)
then pass; else fail "calibrated int8 ONNX: $(tail -2 "$work/export.log") $(tail -2 <<< "$out")"; fi
echo "$out"

finish export_int8
