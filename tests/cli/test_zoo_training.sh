#!/usr/bin/env bash
# The model zoo trains on real data: DenseNet-121, ResNet-164 and Wide
# ResNet-50-2 on a Fashion-MNIST subset (128 training images at 14x14, three
# epochs of 8 steps of 16), and each one's training loss falls as the
# independent PyTorch model's does on the same recipe from the same initial
# weights (zoo_training.py).
#   test_zoo_training.sh PARITY_STEP   (tests/parity/parity_step: the weights)
source "$(dirname "$0")/lib.sh"
PARITY_STEP=${1:?usage: test_zoo_training.sh PARITY_STEP}
PY=/usr/bin/python3 # the system Python, with h5py, numpy and torch
HERE=$(dirname "$0")
export OMP_NUM_THREADS=2

convert_fashion_mnist "$work/full.h5"
$PY "$HERE/zoo_training.py" shrink "$work/full.h5" "$work/fm.h5" 128 16 ||
    { echo "FAIL: cannot cut the subset"; exit 1; }
rm -f "$work/full.h5"

# A learning rate per network: at batch 16, Wide ResNet-50-2's first steps
# (from the engine's initialization) diverge at 0.005 on both sides, and
# ResNet-164 barely moves in 24 steps below 0.05.
EPOCHS=3 BATCH=16 SEED=5
for case in densenet121:0.01 resnet164:0.05 wide_resnet50_2:0.001; do
    net=${case%:*} lr=${case#*:}
    "$PARITY_STEP" --save-init "$work/$net-init.h5" --arch "$net" --shape 14x14x1 --classes 10 \
        --seed $SEED > /dev/null || { fail "$net: parity_step --save-init"; continue; }
    "$BMST_DIST" train --device cpu --threads 2 --data "$work/fm.h5" --net "$net" \
        --epochs $EPOCHS --batch $BATCH --lr "$lr" --momentum 0.9 --weight-decay 5e-4 \
        --schedule constant --augment off --seed $SEED --csv "$work/$net.csv" \
        > "$work/$net.log" 2>&1 || { fail "$net: $(tail -2 "$work/$net.log")"; continue; }
    $PY "$HERE/zoo_training.py" torch "$work/fm.h5" "$net" $EPOCHS $BATCH "$lr" $SEED \
        "$work/$net-init.h5" \
        > "$work/$net.torch" 2> "$work/$net.torch.log" ||
        { fail "$net in PyTorch: $(tail -2 "$work/$net.torch.log")"; continue; }
    echo "$net:"
    $PY "$HERE/zoo_training.py" compare "$work/$net.csv" "$work/$net.torch" && pass ||
        fail "$net: the loss does not fall as PyTorch's does"
done
finish zoo_training
