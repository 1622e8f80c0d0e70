#!/usr/bin/env bash
# bmst_dist export (docs/cli.md, "export"): the ONNX model of a checkpoint
# passes onnx's checker and, in onnxruntime, gives `bmst_dist eval`'s loss
# on the test split within 1e-4 relative and its accuracy
# (onnx_check.py), for a CIFAR ResNet (dense and pruned), an ImageNet
# ResNet, and the pre-activation ResNet-164, whose batch norms that follow
# no convolution stay BatchNormalization; bad input gives one line.
# onnx and onnxruntime come from PyPI into a venv made once and kept
# (BMST_ONNX_VENV, default ~/.cache/bmst_dist/onnx-venv).
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3 # the system Python, with h5py, prepares the inputs
CHECK="$(dirname "$0")/onnx_check.py"
venv=${BMST_ONNX_VENV:-$HOME/.cache/bmst_dist/onnx-venv}
if ! "$venv/bin/python" -c "import onnx, onnxruntime" 2> /dev/null; then
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    { /usr/bin/python3 -m venv "$venv" &&
        "$venv/bin/pip" install -q onnx==1.23.1 onnxruntime==1.30.0; } > "$work/pip.log" 2>&1 ||
        { echo "FAIL: cannot install onnx and onnxruntime into $venv: $(tail -2 "$work/pip.log")"; exit 1; }
fi

data="$work/d.h5"
"$BMST_DATA" synth --shape 8x8x3 --classes 4 --train 32 --test 16 --seed 2 "$data" > /dev/null ||
    { echo "cannot make the test dataset" >&2; exit 1; }
mkdir -p "$work/inputs"
$PY "$CHECK" prepare "$data" "$work/inputs" || { echo "FAIL: cannot prepare the inputs"; exit 1; }
train=("$BMST_DIST" train --device cpu --data "$data" --batch 8 --threads 2 --lr 0.01 --epochs 1
       --max-steps 2)

# export_check NAME CHECKPOINT: export, eval, and compare in onnxruntime
export_check() {
    local name=$1 ckpt=$2 line loss acc out
    if ! "$BMST_DIST" export --checkpoint "$ckpt" --out "$work/$name.onnx" > "$work/$name.log" 2>&1
    then fail "$name: export: $(tail -1 "$work/$name.log")"; return; fi
    line=$("$BMST_DIST" eval --device cpu --data "$data" --checkpoint "$ckpt" --threads 2 2> /dev/null | tail -1)
    loss=$(sed -n 's/.* loss \([0-9.]*\), accuracy \([0-9.]*\)%.*/\1/p' <<< "$line")
    acc=$(sed -n 's/.* loss \([0-9.]*\), accuracy \([0-9.]*\)%.*/\2/p' <<< "$line")
    [[ -n $loss && -n $acc ]] || { fail "$name: eval printed '$line'"; return; }
    if out=$("$venv/bin/python" "$CHECK" check "$work/$name.onnx" "$work/inputs" "$loss" "$acc" 2>&1)
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
[[ ! -e "$work/x.onnx" ]] && pass || fail "a failed export left $work/x.onnx"

finish export
