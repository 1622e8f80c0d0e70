#!/usr/bin/env bash
# Pretrained weights in and predictions out (docs/cli.md, "import",
# "Fine-tuning: --init and --stem", "predict"):
# - torchvision round trip: a randomly initialised torchvision resnet50,
#   saved with torch.save and as safetensors, imported from each (the two
#   checkpoints the same), gives our logits (predict --logits) on a 96-px
#   dataset equal to torchvision's within 1e-4 relative; so do resnet18 with
#   the CIFAR stem at 32 px and resnet18 with --stem imagenet at 32 px (the
#   stem the size alone would not choose, rebuilt from the checkpoint), and
#   the zoo's torchvision models: densenet121 at 96 px, inceptionv3 at 75 px;
# - predict's top-1 agreement is eval's accuracy (CSV and HDF5, central
#   crop above 64 px), on train as well;
# - train --init: imported weights bitwise, a classifier of another class
#   count re-initialized exactly as a fresh run's, and from a full training
#   checkpoint nothing but its weights (no seed, step or optimizer state);
# - h5py's default (variable-length UTF-8) string attributes read;
# - bad input: a wrong model, a missing, unexpected or other-shaped tensor,
#   a truncated safetensors file, a header that lies about offsets, a pickle
#   that is not a state_dict, no PyTorch: one line, no output file.
# safetensors comes from PyPI into a venv made once and kept (BMST_IMPORT_VENV,
# default ~/.cache/bmst_dist/import-venv), over the system's torch,
# torchvision and h5py (python3-torch, python3-torchvision).
source "$(dirname "$0")/lib.sh"
CHECK="$(dirname "$0")/import_check.py"
venv=${BMST_IMPORT_VENV:-$HOME/.cache/bmst_dist/import-venv}
if ! "$venv/bin/python" -c "import safetensors, torch, torchvision, h5py" 2> /dev/null; then
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    { /usr/bin/python3 -m venv --system-site-packages "$venv" &&
        "$venv/bin/pip" install -q safetensors==0.8.0; } > "$work/pip.log" 2>&1 ||
        { echo "FAIL: cannot install safetensors into $venv: $(tail -2 "$work/pip.log")"; exit 1; }
fi
PY="$venv/bin/python"
export BMST_PYTHON=/usr/bin/python3 # import's pickle helper: the system's torch
dist() { "$BMST_DIST" "$@" --threads 2; }

"$BMST_DATA" synth --shape 96x96x3 --classes 10 --train 8 --test 12 --seed 3 "$work/d96.h5" > /dev/null &&
    "$BMST_DATA" synth --shape 32x32x3 --classes 10 --train 16 --test 12 --seed 3 "$work/d32.h5" > /dev/null &&
    "$BMST_DATA" synth --shape 32x32x3 --classes 5 --train 16 --test 8 --seed 4 "$work/d32c5.h5" > /dev/null ||
    { echo "FAIL: cannot make the test datasets"; exit 1; }
predict=(predict --device cpu --eval-batch 12)

# roundtrip NAME NET PREFIX DATA [import options] [-- check options]: import
# PREFIX.safetensors, predict the logits as stored, compare with torchvision
roundtrip() {
    local name=$1 net=$2 prefix=$3 data=$4 out
    shift 4
    local opts=() check=()
    while [[ $# -gt 0 && $1 != -- ]]; do opts+=("$1"); shift; done
    [[ $# -gt 0 ]] && shift && check=("$@")
    if ! dist import --net "$net" --classes 10 "${opts[@]}" "$prefix.safetensors" "$work/$name.h5" > "$work/$name.log" 2>&1
    then fail "$name: import: $(tail -1 "$work/$name.log")"; return; fi
    if ! dist "${predict[@]}" --checkpoint "$work/$name.h5" --data "$data" --augment off --logits \
        --out "$work/$name.pred.h5" > "$work/$name.log" 2>&1
    then fail "$name: predict: $(tail -1 "$work/$name.log")"; return; fi
    if out=$("$PY" "$CHECK" check "$net" "$prefix" "$data" "$work/$name.pred.h5" "${check[@]}" 2>&1)
    then pass; echo "$out"; else fail "$name: $(tail -3 <<< "$out")"; fi
}

# --- torchvision round trip ---------------------------------------------------
"$PY" "$CHECK" make resnet50 "$work/r50" && "$PY" "$CHECK" make resnet18 "$work/r18" &&
    "$PY" "$CHECK" make resnet18 "$work/r18c" --cifar-stem ||
    { echo "FAIL: cannot make the torchvision models"; exit 1; }
roundtrip resnet50 resnet50 "$work/r50" "$work/d96.h5" --shape 96x96x3
if dist import --net resnet50 --classes 10 --shape 96x96x3 "$work/r50.pt" "$work/r50pt.h5" > "$work/pt.log" 2>&1
then
    h5diff "$work/resnet50.h5" "$work/r50pt.h5" > /dev/null && pass ||
        fail "resnet50 imported from torch.save and from safetensors differ"
else fail "resnet50 from torch.save: $(tail -1 "$work/pt.log")"; fi
# torch.save's archive under a model hub's name is read as a pickle too
cp "$work/r50.pt" "$work/pytorch_model.bin"
if dist import --net resnet50 --classes 10 --shape 96x96x3 "$work/pytorch_model.bin" \
    "$work/r50bin.h5" > "$work/bin.log" 2>&1
then
    h5diff "$work/resnet50.h5" "$work/r50bin.h5" > /dev/null && pass ||
        fail "resnet50 from pytorch_model.bin and from safetensors differ"
else fail "resnet50 from pytorch_model.bin: $(tail -1 "$work/bin.log")"; fi
roundtrip resnet18_cifar resnet18 "$work/r18c" "$work/d32.h5" --shape 32x32x3 --stem cifar -- --cifar-stem
# the zoo's torchvision models: DenseNet-121 at 96 px, InceptionV3's ImageNet stem at 75
"$PY" "$CHECK" make densenet121 "$work/d121" && "$PY" "$CHECK" make inceptionv3 "$work/i3" &&
    "$BMST_DATA" synth --shape 75x75x3 --classes 10 --train 8 --test 12 --seed 3 "$work/d75.h5" \
    > /dev/null || { echo "FAIL: cannot make the zoo's torchvision models"; exit 1; }
roundtrip densenet121 densenet121 "$work/d121" "$work/d96.h5" --shape 96x96x3
roundtrip inceptionv3 inceptionv3 "$work/i3" "$work/d75.h5" --shape 75x75x3
roundtrip resnet18_imagenet32 resnet18 "$work/r18" "$work/d32.h5" --shape 32x32x3 --stem imagenet
"$PY" -c 'import h5py, sys; assert h5py.File(sys.argv[1])["/"].attrs["stem"] in (b"imagenet", "imagenet")' \
    "$work/resnet18_imagenet32.h5" && pass || fail "the checkpoint does not record --stem imagenet"
# the int8 HDF5 export keeps the stem: eval of it builds the same network and
# scores what eval --int8 of the checkpoint scores
score() { dist eval --device cpu --eval-batch 12 --data "$work/d32.h5" "$@" 2> /dev/null |
          grep -o 'loss [0-9.]*, accuracy [0-9.]*%'; }
if dist export --checkpoint "$work/resnet18_imagenet32.h5" --out "$work/r18i.int8.h5" \
    > "$work/i8.log" 2>&1; then
    a=$(score --checkpoint "$work/r18i.int8.h5") b=$(score --checkpoint "$work/resnet18_imagenet32.h5" --int8)
    [[ -n $a && $a == "$b" ]] && pass || fail "int8 HDF5 of a --stem imagenet model: '$a', eval --int8 '$b'"
else fail "int8 export: $(tail -1 "$work/i8.log")"; fi

# info and bench build the stem --stem names: torchvision's counts at 96 px
# (the CIFAR stem's 3x3 conv1, or the 7x7 one)
for stem in cifar:11173962 imagenet:11181642; do
    "$BMST_DIST" info --device cpu --net resnet18 --shape 96x96x3 --stem "${stem%:*}" 2> /dev/null |
        grep -q "^parameters: ${stem#*:} trainable" && pass || fail "info --stem ${stem%:*}"
done
"$BMST_DIST" bench --device cpu --net resnet18 --shape 32x32x3 --stem imagenet --batch 2 --steps 1 \
    --warmup 0 --threads 2 > "$work/bench.log" 2>&1 && pass || fail "bench --stem: $(tail -1 "$work/bench.log")"

# --- predict agrees with eval -------------------------------------------------
# agree NAME CKPT DATA PRED [predict options]: predict's top-1 agreement (its
# line and the file's rows) is eval's accuracy on the same split
agree() {
    local name=$1 ckpt=$2 data=$3 pred=$4 line acc said rows split=test
    shift 4
    [[ " $* " == *" --split train "* ]] && split=train
    if ! dist "${predict[@]}" --checkpoint "$ckpt" --data "$data" --out "$pred" "$@" > "$work/p.log" 2>&1
    then fail "$name: predict: $(tail -1 "$work/p.log")"; return; fi
    said=$(sed -n 's/.*top-1 agrees with the label on \([0-9.]*\)%.*/\1/p' "$work/p.log")
    rows=$("$PY" - "$pred" <<'EOF'
import sys, csv, h5py, numpy as np
p = sys.argv[1]
if p.endswith(".csv"):
    rows = list(csv.DictReader(open(p)))
    ok = [r["top1"] == r["label"] for r in rows]
    probs = np.array([[float(r["prob%d" % k]) for k in range(1, 6)] for r in rows])
else:
    f = h5py.File(p, "r")
    ok = f["top_class"][:, 0] == f["label"][()]
    probs = f["top_prob"][()]
assert (np.diff(probs, axis=1) <= 0).all() and (probs.sum(axis=1) <= 1 + 1e-6).all()
print("%.2f %d" % (100.0 * np.mean(ok), len(ok)))
EOF
) || { fail "$name: the predictions file: $rows"; return; }
    if [[ $split == test ]]; then
        line=$(dist eval --device cpu --eval-batch 12 --checkpoint "$ckpt" --data "$data" 2> /dev/null | grep ' split: loss ')
        acc=$(sed -n 's/.*accuracy \([0-9.]*\)%.*/\1/p' <<< "$line")
    else
        acc=$said
    fi
    if [[ -n $acc && $said == "$acc" && ${rows% *} == "$acc" ]]; then pass
    else fail "$name: predict says $said%, its file ${rows% *}%, eval $acc%"; fi
    echo "$name: predict ${rows% *}% on ${rows#* } samples, eval $acc%"
}
# a run that has learnt something, so that agreement is not chance
dist train --device cpu --net resnet20 --data "$work/d32.h5" --batch 8 --epochs 3 --lr 0.05 \
    --save "$work/r20.h5" > "$work/r20.log" 2>&1 || fail "resnet20 training: $(tail -1 "$work/r20.log")"
agree "predict CSV" "$work/r20.h5" "$work/d32.h5" "$work/r20.csv"
agree "predict HDF5" "$work/r20.h5" "$work/d32.h5" "$work/r20.pred.h5"
agree "predict on train" "$work/r20.h5" "$work/d32.h5" "$work/r20.train.csv" --split train
[[ $(grep -c '' "$work/r20.train.csv") -eq 17 ]] && pass || fail "predict --split train: not 16 rows"
agree "predict at 96 px (central crop)" "$work/resnet50.h5" "$work/d96.h5" "$work/r50.csv"
head -1 "$work/r20.csv" | grep -qx 'index,label,top1,prob1,top2,prob2,top3,prob3,top4,prob4,top5,prob5' &&
    pass || fail "the CSV header: $(head -1 "$work/r20.csv")"

# --- train --init ---------------------------------------------------------------
# 10 classes imported, 5 trained: at --lr 0 the classifier is a fresh run's
# and every other weight the imported one, bitwise
tune=(train --device cpu --net resnet18 --stem cifar --data "$work/d32c5.h5" --batch 8 --epochs 1
      --max-steps 1 --eval-batch 8 --lr 0)
if dist "${tune[@]}" --init "$work/resnet18_cifar.h5" --save "$work/ft.h5" > "$work/ft.log" 2>&1 &&
    dist "${tune[@]}" --save "$work/scratch.h5" > "$work/scratch.log" 2>&1; then
    grep -q -- "--init: the checkpoint has 10 classes, the data 5: fc.weight, fc.bias start fresh" \
        "$work/ft.log" && pass || fail "--init did not say the classifier starts fresh"
    "$PY" - "$work/ft.h5" "$work/scratch.h5" "$work/resnet18_cifar.h5" <<'EOF' && pass || fail "--init's weights"
import sys, h5py, numpy as np
ft, scratch, imported = (h5py.File(p, "r")["model"] for p in sys.argv[1:4])
for name in ft:
    if "running" in name or "num_batches" in name:
        continue  # batch norm's statistics moved in the training step
    want = scratch if name.startswith("fc.") else imported
    assert np.array_equal(ft[name][()], want[name][()]), name
EOF
else fail "train --init: $(tail -1 "$work/ft.log") $(tail -1 "$work/scratch.log")"; fi
# from a full training checkpoint: its weights, not its seed, step or optimizer
if dist "${tune[@]}" --init "$work/ft.h5" --seed 5 --save "$work/ft2.h5" > "$work/ft2.log" 2>&1; then
    "$PY" - "$work/ft2.h5" "$work/ft.h5" <<'EOF' && pass || fail "--init from a training checkpoint"
import sys, h5py, numpy as np
new, old = (h5py.File(p, "r") for p in sys.argv[1:3])
assert new.attrs["seed"] == 5 and new.attrs["step"] == 1 and new.attrs["epoch"] == 1
for name in new["model"]:
    if "running" not in name and "num_batches" not in name:
        assert np.array_equal(new["model"][name][()], old["model"][name][()]), name
EOF
else fail "train --init a training checkpoint: $(tail -1 "$work/ft2.log")"; fi

# a requeued fine-tuning job (--resume auto) continues from its own checkpoint
cp "$work/ft.h5" "$work/requeued.h5"
if dist "${tune[@]}" --epochs 2 --init "$work/resnet18_cifar.h5" --resume auto \
    --save "$work/requeued.h5" > "$work/rq.log" 2>&1; then
    grep -q "^resumed from .*requeued.h5 at epoch 1" "$work/rq.log" && ! grep -q -- "^--init" "$work/rq.log" &&
        pass || fail "--init with --resume auto did not resume: $(head -3 "$work/rq.log")"
else fail "--init with --resume auto: $(tail -1 "$work/rq.log")"; fi

# imported for 224 px (import's default shape, ImageNet weights' size), tuned at 96 px
if dist import --net resnet18 --classes 10 "$work/r18.pt" "$work/r18_224.h5" > "$work/i224.log" 2>&1 &&
    dist train --device cpu --net resnet18 --data "$work/d96.h5" --batch 4 --epochs 1 --max-steps 1 \
        --eval-batch 12 --init "$work/r18_224.h5" > "$work/t96.log" 2>&1; then pass
else fail "--init of 224-px weights at 96 px: $(tail -1 "$work/i224.log") $(tail -1 "$work/t96.log")"; fi

# --- h5py's default string attributes ---------------------------------------------
cp "$work/resnet18_cifar.h5" "$work/vlen.h5"
cp "$work/d32.h5" "$work/vlen_data.h5"
"$PY" - "$work/vlen.h5" "$work/vlen_data.h5" <<'EOF' || fail "cannot rewrite the attributes"
import sys, h5py
for path in sys.argv[1:3]:
    with h5py.File(path, "r+") as f:
        for key, value in list(f.attrs.items()):
            if isinstance(value, (bytes, str)):
                text = value.decode() if isinstance(value, bytes) else value
                del f.attrs[key]
                f.attrs[key] = text  # h5py's default: variable-length UTF-8
        assert h5py.check_string_dtype(f.attrs.get_id("format").dtype).length is None
EOF
dist eval --device cpu --eval-batch 12 --checkpoint "$work/vlen.h5" --data "$work/vlen_data.h5" \
    > "$work/vlen.log" 2>&1 && pass || fail "variable-length string attributes: $(tail -1 "$work/vlen.log")"

# --- bad input: one line, no output file ------------------------------------------
"$PY" - "$work" <<'EOF' || fail "cannot make the bad files"
import json, struct, sys, torch
from safetensors.torch import load_file, save_file
w = sys.argv[1]
state = load_file(w + "/r18.safetensors")
missing = dict(state); del missing["layer4.1.bn2.running_var"]
save_file(missing, w + "/missing.safetensors")
extra = dict(state); extra["head.weight"] = torch.zeros(2, 2)
save_file(extra, w + "/extra.safetensors")
torch.save([state["fc.bias"]], w + "/list.pt")
torch.save(torch.nn.Linear(2, 2), w + "/module.pt")
torch.save({"epoch": 3, "state_dict": state}, w + "/nested.pt")
raw = open(w + "/r18.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
name = min((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][0])
header[name]["data_offsets"][0] += 4  # the first tensor says it starts 4 bytes later
text = json.dumps(header).encode()
open(w + "/lying.safetensors", "wb").write(struct.pack("<Q", len(text)) + text + raw[8 + n:])
open(w + "/truncated.safetensors", "wb").write(raw[:len(raw) // 2])
EOF
printf '#!/bin/sh\nexec /usr/bin/python3 -S "$@"\n' > "$work/notorch" && chmod +x "$work/notorch"
out="$work/bad.h5"
bad() { # bad NAME PATTERN import options...
    local name=$1 pattern=$2
    shift 2
    expect_error "$name" "$pattern" "$BMST_DIST" import "$@" "$out"
    [[ ! -e $out ]] && pass || { fail "$name: left $out"; rm -f "$out"; }
}
bad "a wrong model" "layer1.0.conv1.weight is \[64, 64, 3, 3\], the resnet50 needs \[64, 64, 1, 1\]" \
    --net resnet50 --classes 10 "$work/r18.pt"
bad "a missing tensor" "has no tensor layer4.1.bn2.running_var, which resnet18 needs \(\[512\]\)" \
    --net resnet18 --classes 10 "$work/missing.safetensors"
bad "an unexpected tensor" "has tensor head.weight, which the resnet18 does not have" \
    --net resnet18 --classes 10 "$work/extra.safetensors"
bad "a shape mismatch" "fc.weight is \[10, 512\], the resnet18 needs \[1000, 512\] \(the classifier" \
    --net resnet18 "$work/r18.safetensors"
bad "the other stem" "conv1.weight is \[64, 3, 3, 3\], the resnet18 needs \[64, 3, 7, 7\] \(the stem" \
    --net resnet18 --classes 10 "$work/r18c.safetensors"
bad "a truncated safetensors file" "beyond the [0-9]+ bytes of data \(truncated, or the header lies\)" \
    --net resnet18 --classes 10 "$work/truncated.safetensors"
bad "a header that lies about offsets" "spans [0-9]+ bytes, but [A-Z0-9]+ of its shape needs" \
    --net resnet18 --classes 10 "$work/lying.safetensors"
bad "a pickled list" "list.pt holds a list, not a state_dict" --net resnet18 "$work/list.pt"
bad "a pickled module" "module.pt is not a state_dict that torch.load\(weights_only=True\) reads" \
    --net resnet18 "$work/module.pt"
bad "a training script's dict" "nested.pt holds a dict that is not a state_dict: 'epoch' is a int" \
    --net resnet18 "$work/nested.pt"
BMST_PYTHON="$work/notorch" bad "no PyTorch" "reading .*r18.pt needs PyTorch" --net resnet18 "$work/r18.pt"
BMST_PYTHON="$work/none" bad "no Python" "needs Python with PyTorch: cannot run" --net resnet18 "$work/r18.pt"
bad "not a safetensors file" "is not a safetensors file" --net resnet18 "$work/d32.h5"
bad "--stem on a CIFAR ResNet" "--stem cifar: resnet20 has one stem" --net resnet20 --stem cifar "$work/r18.pt"
expect_usage "import with one path" "import needs IN" "$BMST_DIST" import --net resnet18 "$work/r18.pt"
expect_usage "a bad --stem" "--stem expects cifar or imagenet, got 'small'" \
    "$BMST_DIST" info --net resnet18 --stem small
expect_error "resume from weights only" "holds weights only \(bmst_dist import\): start a new run from it with --init" \
    "$BMST_DIST" train --device cpu --net resnet18 --stem cifar --batch 8 --data "$work/d32.h5" --resume "$work/resnet18_cifar.h5"
expect_error "--init of another network" "holds a resnet18; this run trains a resnet34" \
    "$BMST_DIST" train --device cpu --net resnet34 --batch 8 --data "$work/d32.h5" --init "$work/resnet18_cifar.h5"
expect_error "--init with another stem" "conv1.weight is float \[64, 3, 7, 7\], the model needs float \[64, 3, 3, 3\]" \
    "$BMST_DIST" train --device cpu --net resnet18 --batch 8 --data "$work/d32.h5" --init "$work/resnet18_imagenet32.h5"
expect_error "resume with another stem" "was trained with --stem cifar; resume with it" \
    "$BMST_DIST" train --device cpu --net resnet18 --batch 8 --data "$work/d32c5.h5" --resume "$work/ft.h5"
expect_usage "--init with --resume" "give one of them" "$BMST_DIST" train --net resnet18 \
    --data "$work/d32.h5" --init "$work/ft.h5" --resume "$work/ft.h5"
expect_usage "eval --split train" "--split expects test or val, got 'train'" \
    "$BMST_DIST" eval --checkpoint "$work/ft.h5" --data "$work/d32.h5" --split train
expect_error "predict to .txt" "predict writes P.csv or P.h5" "$BMST_DIST" predict \
    --checkpoint "$work/r20.h5" --data "$work/d32.h5" --out "$work/p.txt"
expect_error "predict on other data" "expects 32x32x3 images and 10 classes" "$BMST_DIST" predict \
    --checkpoint "$work/r20.h5" --data "$work/d96.h5" --out "$work/p.csv"
[[ ! -e $work/p.txt && ! -e $work/p.csv ]] && pass || fail "a failed predict left its file"

finish import
