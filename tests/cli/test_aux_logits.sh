#!/usr/bin/env bash
# --aux-logits (InceptionV3's auxiliary classifier) from the command line:
# info counts torchvision's parameters with and without it; a model without
# one and an input its head cannot take are one-line usage errors (exit 2)
# from info and train; a run with it starts the head as torchvision's
# init_weights does, records it in the checkpoint with the head's tensors,
# eval infers it from the checkpoint, and resuming without it is a one-line
# error. Its training step itself is checked against torchvision by
# parity_inception_aux.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3 # the system Python, with h5py and numpy
export OMP_NUM_THREADS=2

# --- parameter counts (torchvision's inception_v3 at 1000 classes) -----------
count() { "$BMST_DIST" info --device cpu --net inceptionv3 --batch 2 --shape 299x299x3 \
    --classes 1000 "$@" 2>/dev/null | sed -n 's/^parameters: \([0-9]*\) trainable.*/\1/p'; }
ours=$(count --aux-logits)
[[ $ours == 27161264 ]] && pass || fail "with --aux-logits: $ours parameters, torchvision 27161264"
ours=$(count)
[[ $ours == 23834568 ]] && pass || fail "without --aux-logits: $ours parameters, torchvision 23834568"

# --- where it does not apply ----------------------------------------------------
expect_usage "resnet18" "--aux-logits: resnet18 has no auxiliary classifier" \
    "$BMST_DIST" info --device cpu --net resnet18 --shape 299x299x3 --aux-logits
expect_usage "CIFAR stem" "--aux-logits: .* needs inputs of at least 299x299 px, got 32x32" \
    "$BMST_DIST" info --device cpu --net inceptionv3 --shape 32x32x3 --aux-logits
expect_usage "298 px" "--aux-logits: .* needs inputs of at least 299x299 px, got 299x298" \
    "$BMST_DIST" info --device cpu --net inceptionv3 --shape 299x298x3 --aux-logits
"$BMST_DATA" synth --shape 32x32x3 --classes 4 --train 8 --test 4 "$work/small.h5" > /dev/null ||
    fail "cannot make the 32 px dataset"
expect_usage "train, 32 px" "--aux-logits: .* needs inputs of at least 299x299 px, got 32x32" \
    "$BMST_DIST" train --device cpu --net inceptionv3 --data "$work/small.h5" --batch 4 \
    --aux-logits
expect_usage "eval" "option '--aux-logits' does not apply to eval" \
    "$BMST_DIST" eval --device cpu --data "$work/small.h5" --checkpoint "$work/none.h5" \
    --aux-logits

# --- a run with it: checkpoint, eval, resume ------------------------------------
# one step of 2 images at 299 px; --lr 0 keeps the initial weights for the
# init check below
"$BMST_DATA" synth --shape 299x299x3 --classes 3 --train 2 --test 2 "$work/big.h5" > /dev/null ||
    fail "cannot make the 299 px dataset"
train() {
    "$BMST_DIST" train --device cpu --threads 2 --net inceptionv3 --data "$work/big.h5" \
        --batch 2 --eval-batch 2 --epochs 1 --lr 0 --augment off --save "$work/ckpt.h5" "$@"
}
if train --aux-logits > "$work/train.log" 2>&1; then pass; else
    fail "training with --aux-logits: $(tail -2 "$work/train.log")"
fi
# the record and the head's tensors, started with torchvision's stddevs
# (conv1 0.01, fc 0.001, truncated at +-2) where the others keep ours
if $PY - "$work/ckpt.h5" <<'PY'; then pass; else fail "the checkpoint's auxiliary head"; fi
import sys
import h5py
import numpy as np
with h5py.File(sys.argv[1], "r") as f:
    m = f["model"]
    ok = int(f.attrs["aux_logits"]) == 1
    ok = ok and m["AuxLogits.conv0.conv.weight"].shape == (128, 768, 1, 1)
    ok = ok and m["AuxLogits.conv1.conv.weight"].shape == (768, 128, 5, 5)
    ok = ok and m["AuxLogits.fc.weight"].shape == (3, 768)
    for name, std in (("AuxLogits.conv1.conv.weight", 0.01), ("AuxLogits.fc.weight", 0.001)):
        w = np.array(m[name])
        print(f"{name}: std {w.std():.3g} (torchvision {std})")
        ok = ok and abs(w.std() - std) < 0.1 * std and abs(w.mean()) < 0.1 * std
sys.exit(0 if ok else 1)
PY
if "$BMST_DIST" eval --device cpu --threads 2 --data "$work/big.h5" --eval-batch 2 \
    --checkpoint "$work/ckpt.h5" > "$work/eval.log" 2>&1; then pass; else
    fail "eval of the --aux-logits checkpoint: $(tail -2 "$work/eval.log")"
fi
expect_error "resume without it" "checkpoint .*ckpt.h5 was trained with --aux-logits; resume with it" \
    train --epochs 2 --resume "$work/ckpt.h5"
finish cli_aux_logits
