#!/usr/bin/env bash
# bmst_dist export (docs/cli.md, "export"): the ONNX model of a checkpoint
# passes onnx's checker and, in onnxruntime, gives `bmst_dist eval`'s loss
# on the test split within 1e-4 relative and its accuracy
# (onnx_check.py), for a CIFAR ResNet (dense and pruned), an ImageNet
# ResNet, the pre-activation ResNet-164, whose batch norms that follow no
# convolution stay BatchNormalization, DenseNet-121 and InceptionV3; the
# int8 ONNX gives eval --int8's; the int8 HDF5 scores as eval --int8 and
# holds the quantized weights, sparse when pruned; bad input gives one line.
# onnx and onnxruntime come from PyPI into a venv made once and kept
# (BMST_ONNX_VENV, default ~/.cache/bmst_dist/onnx-venv).
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3 # the system Python, with h5py, prepares the inputs
CHECK="$(dirname "$0")/onnx_check.py"
onnx_venv

data="$work/d.h5"
"$BMST_DATA" synth --shape 8x8x3 --classes 4 --train 32 --test 16 --seed 2 "$data" > /dev/null ||
    { echo "cannot make the test dataset" >&2; exit 1; }
mkdir -p "$work/inputs"
$PY "$CHECK" prepare "$data" "$work/inputs" || { echo "FAIL: cannot prepare the inputs"; exit 1; }
train=("$BMST_DIST" train --device cpu --data "$data" --batch 8 --threads 2 --lr 0.01 --epochs 1
       --max-steps 2)

# eval_line CHECKPOINT DATA [FLAGS...]: the score line of `bmst_dist eval`
eval_line() {
    local ckpt=$1 d=$2
    shift 2
    "$BMST_DIST" eval --device cpu --data "$d" --checkpoint "$ckpt" --threads 2 "$@" 2> /dev/null | grep ' split: loss '
}

# export_check NAME CHECKPOINT [DATA INPUTS [--int8]]: export (fp32, or int8
# weights), eval (or eval --int8), and compare in onnxruntime
export_check() {
    local name=$1 ckpt=$2 d=${3:-$data} inputs=${4:-$work/inputs} line loss acc out
    local int8=()
    [[ -n ${5:-} ]] && int8=("$5")
    if ! "$BMST_DIST" export --checkpoint "$ckpt" "${int8[@]}" --out "$work/$name.onnx" > "$work/$name.log" 2>&1
    then fail "$name: export: $(tail -1 "$work/$name.log")"; return; fi
    line=$(eval_line "$ckpt" "$d" "${int8[@]}")
    loss=$(sed -n 's/.* loss \([0-9.]*\), accuracy \([0-9.]*\)%.*/\1/p' <<< "$line")
    acc=$(sed -n 's/.* loss \([0-9.]*\), accuracy \([0-9.]*\)%.*/\2/p' <<< "$line")
    [[ -n $loss && -n $acc ]] || { fail "$name: eval printed '$line'"; return; }
    if out=$("$venv/bin/python" "$CHECK" check "$work/$name.onnx" "$inputs" "$loss" "$acc" 2>&1)
    then pass; else fail "$name: $(tail -3 <<< "$out")"; fi
}

for net in resnet20 resnet18 resnet164; do
    "${train[@]}" --net $net --save "$work/$net.h5" > "$work/train_$net.log" 2>&1 ||
        { fail "$net: training: $(tail -1 "$work/train_$net.log")"; continue; }
    export_check $net "$work/$net.h5"
done
"${train[@]}" --net resnet20 --prune-to 0.7 --prune-every 1 --save "$work/pruned.h5" > /dev/null 2>&1 ||
    fail "pruned resnet20: training"
export_check pruned_resnet20 "$work/pruned.h5"

# --- the zoo's other shapes at 32x32: DenseNet's concatenation (append),
# InceptionV3 (CIFAR stem: concat, average pools with padding) -------------
data32="$work/d32.h5"
"$BMST_DATA" synth --shape 32x32x3 --classes 4 --train 4 --test 4 --seed 3 "$data32" > /dev/null ||
    { echo "cannot make the 32x32 dataset" >&2; exit 1; }
mkdir -p "$work/inputs32"
$PY "$CHECK" prepare "$data32" "$work/inputs32" || { echo "FAIL: cannot prepare the inputs"; exit 1; }
for net in densenet121 inceptionv3; do
    "$BMST_DIST" train --device cpu --data "$data32" --batch 2 --threads 2 --lr 0.0001 --epochs 1 \
        --max-steps 1 --net $net --save "$work/$net.h5" > "$work/train_$net.log" 2>&1 ||
        { fail "$net: training: $(tail -1 "$work/train_$net.log")"; continue; }
    export_check $net "$work/$net.h5" "$data32" "$work/inputs32"
    rm -f "$work/$net.h5" "$work/$net.onnx"
done

# --- int8 ----------------------------------------------------------------------
# int8 weights: onnxruntime gives eval --int8's loss within 1e-4 relative
# (the export quantizes the BN-folded weights per output channel, eval
# --int8 the unfolded ones: the same grid, as BN scales a channel by one
# factor)
export_check int8_pruned_resnet20 "$work/pruned.h5" "$data" "$work/inputs" --int8
# calibrated: the checker passes and onnxruntime runs it (its agreement with
# fp32 on a trained model: test_export_int8.sh)
if out=$("$BMST_DIST" export --checkpoint "$work/pruned.h5" --int8 --calibrate 2 --batch 8 \
    --data "$data" --out "$work/int8c.onnx" 2>&1) &&
    grep -q "uint8 activations (QDQ)" <<< "$out" &&
    out=$("$venv/bin/python" "$CHECK" agree "$work/pruned_resnet20.onnx" "$work/int8c.onnx" "$work/inputs" 0 2>&1)
then pass; else fail "calibrated int8 ONNX: $(tail -2 <<< "$out")"; fi

# the int8 HDF5: eval scores it as eval --int8 scores its checkpoint, to the
# bit; a pruned network's int8 tensors are stored sparse (every one at 70%),
# a dense one's not, and the pruned file is the smaller
for ckpt in pruned resnet20; do
    "$BMST_DIST" export --checkpoint "$work/$ckpt.h5" --format int8-h5 --out "$work/$ckpt.int8" \
        > "$work/$ckpt.int8.log" 2>&1 || { fail "$ckpt: int8 HDF5: $(tail -1 "$work/$ckpt.int8.log")"; continue; }
    a=$(eval_line "$work/$ckpt.int8" "$data" | grep -o 'loss [0-9.]*, accuracy [0-9.]*%')
    b=$(eval_line "$work/$ckpt.h5" "$data" --int8 | grep -o 'loss [0-9.]*, accuracy [0-9.]*%')
    [[ -n $a && $a == "$b" ]] && pass || fail "$ckpt: eval of the int8 HDF5 '$a', eval --int8 '$b'"
done
grep -q "22 conv and fc weights int8 per output channel, 22 of them sparse" "$work/pruned.int8.log" &&
    grep -q "22 conv and fc weights int8 per output channel, 0 of them sparse" "$work/resnet20.int8.log" &&
    [[ $(stat -c %s "$work/pruned.int8") -lt $(( $(stat -c %s "$work/resnet20.int8") * 6 / 10 )) ]] &&
    pass || fail "sparse storage: $(cat "$work/pruned.int8.log" "$work/resnet20.int8.log"); $(stat -c %s "$work/pruned.int8" "$work/resnet20.int8")"
# its tensors: the formula of docs/checkpoint-format.md, from the checkpoint
$PY - "$work/pruned.int8" "$work/pruned.h5" << 'EOF' && pass || fail "the int8 HDF5's tensors"
import sys, h5py, numpy as np
q, c = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
for name in ("conv1.weight", "layer3.2.conv2.weight", "fc.weight"):
    w = c["model"][name][()].reshape(len(c["model"][name]), -1)
    scale = np.abs(w).max(1, keepdims=True) / 127
    bits = np.unpackbits(q["int8"][name + ".mask"][()], bitorder="little")[: w.size].astype(bool)
    values = np.zeros(w.size, np.int8)
    values[bits] = q["int8"][name][()]
    assert (values.reshape(w.shape) == np.rint(w / scale)).all(), name
    np.testing.assert_allclose(q["int8"][name + ".scale"][()], scale[:, 0], rtol=1e-6)
for name in ("bn1.weight", "layer1.0.bn1.running_var", "fc.bias"):
    assert (q["fp32"][name][()] == c["model"][name][()]).all(), name
EOF

# --- one line for bad input --------------------------------------------------
expect_usage "export without --out" "export needs --out PATH" \
    "$BMST_DIST" export --checkpoint "$work/resnet20.h5"
expect_usage "export without --checkpoint" "export needs --checkpoint PATH" \
    "$BMST_DIST" export --out "$work/x.onnx"
expect_error "a dataset, not a checkpoint" "is not a bmst_dist checkpoint" \
    "$BMST_DIST" export --checkpoint "$data" --out "$work/x.onnx"
cp "$work/resnet20.h5" "$work/lenet.h5"
$PY -c 'import h5py, sys
with h5py.File(sys.argv[1], "r+") as f: f.attrs["arch"] = "lenet"' "$work/lenet.h5"
expect_error "an unknown model" "holds a model this bmst_dist cannot build: unknown model 'lenet'" \
    "$BMST_DIST" export --checkpoint "$work/lenet.h5" --out "$work/x.onnx"
cp "$work/resnet20.h5" "$work/nomodel.h5"
$PY -c 'import h5py, sys
with h5py.File(sys.argv[1], "r+") as f: del f["model"]' "$work/nomodel.h5"
expect_error "a checkpoint without its model" "nomodel.h5" \
    "$BMST_DIST" export --checkpoint "$work/nomodel.h5" --out "$work/x.onnx"
expect_error "an --out in no folder" "cannot write the ONNX model" \
    "$BMST_DIST" export --checkpoint "$work/resnet20.h5" --out "$work/none/x.onnx"
expect_usage "--calibrate without --data" "--calibrate N needs --data PATH" \
    "$BMST_DIST" export --checkpoint "$work/resnet20.h5" --int8 --calibrate 2 --out "$work/x.onnx"
expect_usage "--calibrate without --int8" "--calibrate N needs --int8" \
    "$BMST_DIST" export --checkpoint "$work/resnet20.h5" --calibrate 2 --data "$data" --out "$work/x.onnx"
expect_usage "--calibrate into the int8 HDF5" "the int8 HDF5 holds weights only" \
    "$BMST_DIST" export --checkpoint "$work/resnet20.h5" --int8 --calibrate 2 --data "$data" --out "$work/x.h5"
expect_usage "an unknown --format" "--format expects onnx or int8-h5, got 'tflite'" \
    "$BMST_DIST" export --checkpoint "$work/resnet20.h5" --format tflite --out "$work/x.onnx"
expect_error "--calibrate beyond the training split" "--calibrate 9 needs 9 batches of 8 training images" \
    "$BMST_DIST" export --checkpoint "$work/resnet20.h5" --int8 --calibrate 9 --batch 8 --data "$data" --out "$work/x.onnx"
expect_error "an unknown model, int8 HDF5" "unknown model 'lenet'" \
    "$BMST_DIST" export --checkpoint "$work/lenet.h5" --out "$work/x.h5"
expect_error "a checkpoint without its model, int8" "nomodel.h5" \
    "$BMST_DIST" export --checkpoint "$work/nomodel.h5" --int8 --out "$work/x.onnx"
[[ ! -e "$work/x.onnx" && ! -e "$work/x.h5" ]] && pass || fail "a failed export left $work/x.onnx or x.h5"

finish export
