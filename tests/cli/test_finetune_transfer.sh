#!/usr/bin/env bash
# The fine-tuning workflow on real images, as a user runs it: resnet18
# pretrained on Fashion-MNIST's classes 0-4 goes out as a PyTorch state_dict
# (torch.save), comes back in with `bmst_dist import`, and is fine-tuned on
# classes 5-9 with --init --reset-classifier --freeze conv1,bn1,layer1
# --freeze-bn:
# - the frozen tensors stay bitwise the imported ones, every other weight moves;
# - the classifier starts where a run from scratch with the same seed starts;
# - after the same number of steps it beats that run from scratch on the
#   test split (transfer is worth something, or the import lost it).
# Needs /usr/bin/python3 with h5py and torch.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
export BMST_PYTHON=$PY # import unpickles through it
export OMP_NUM_THREADS=2

fashion_mnist_halves "$work/first.h5" "$work/second.h5" 600 300
common=(--device cpu --threads 2 --net resnet18 --batch 50 --lr 0.05 --schedule constant
        --augment off --seed 11)

# --- pretrain on classes 0-4, export as torch.save, import -------------------
"$BMST_DIST" train "${common[@]}" --data "$work/first.h5" --epochs 3 --save "$work/pre.h5" \
    > "$work/pre.log" 2>&1 || { fail "pretraining: $(tail -2 "$work/pre.log")"; finish finetune_transfer; exit 1; }
$PY - "$work/pre.h5" "$work/pre.pt" <<'PYEOF' || fail "cannot write the state_dict"
import sys, h5py, numpy as np, torch
with h5py.File(sys.argv[1], "r") as f:  # our names are torchvision's
    state = {k: torch.from_numpy(np.asarray(f["model"][k][()])) for k in f["model"]}
torch.save(state, sys.argv[2])
PYEOF
if ! "$BMST_DIST" import --net resnet18 --classes 5 --shape 28x28x1 "$work/pre.pt" \
    "$work/pre_in.h5" > "$work/import.log" 2>&1; then
    fail "import: $(tail -2 "$work/import.log")"
    finish finetune_transfer
    exit 1
fi
pass

tune=("$BMST_DIST" train "${common[@]}" --data "$work/second.h5" --epochs 1)
frozen=(--init "$work/pre_in.h5" --reset-classifier --freeze conv1,bn1,layer1 --freeze-bn)

# --- where each part starts: one step at --lr 0 ------------------------------
"${tune[@]}" "${frozen[@]}" --lr 0 --max-steps 1 --save "$work/start.h5" > "$work/start.log" 2>&1 ||
    fail "fine-tuning start: $(tail -2 "$work/start.log")"
grep -q -- "--reset-classifier: fc.weight, fc.bias start fresh from --seed 11" "$work/start.log" &&
    pass || fail "no line for the fresh classifier: $(grep -- --init "$work/start.log")"
"${tune[@]}" --lr 0 --max-steps 1 --save "$work/scratch_start.h5" > /dev/null 2>&1 ||
    fail "scratch start"

# --- fine-tune and train from scratch for the same steps ---------------------
"${tune[@]}" "${frozen[@]}" --save "$work/tuned.h5" > "$work/tuned.log" 2>&1 ||
    fail "fine-tuning: $(tail -2 "$work/tuned.log")"
"${tune[@]}" --save "$work/scratch.h5" > "$work/scratch.log" 2>&1 ||
    fail "from scratch: $(tail -2 "$work/scratch.log")"

$PY - "$work" <<'PYEOF' && pass || fail "the fine-tuned weights"
import sys, h5py
w = sys.argv[1]
f = {k: h5py.File(f"{w}/{k}.h5", "r")["model"] for k in ("pre_in", "start", "scratch_start", "tuned")}
frozen = lambda n: n.split(".")[0] in ("conv1", "bn1", "layer1") and "num_batches" not in n
names = [n for n in f["tuned"] if "num_batches" not in n]
for n in names:
    if frozen(n):  # weights and running statistics alike
        assert f["tuned"][n][()].tobytes() == f["pre_in"][n][()].tobytes(), "frozen %s moved" % n
    elif n.endswith("weight"):
        assert f["tuned"][n][()].tobytes() != f["start"][n][()].tobytes(), "%s did not train" % n
for n in ("fc.weight", "fc.bias"):
    assert f["start"][n][()].tobytes() == f["scratch_start"][n][()].tobytes(), \
        "%s does not start fresh" % n
    assert f["start"][n][()].tobytes() != f["pre_in"][n][()].tobytes(), "%s is the pretrained" % n
for n in ("layer2.0.conv1.weight", "layer4.1.bn2.weight"):  # lr 0: weights as loaded
    assert f["start"][n][()].tobytes() == f["pre_in"][n][()].tobytes(), "%s not loaded" % n
print("%d frozen tensors kept, the rest trained" % sum(map(frozen, names)))
PYEOF

accuracy() { sed -n 's/.*test accuracy \([0-9.]*\)%.*/\1/p' "$1" | tail -1; }
tuned=$(accuracy "$work/tuned.log") scratch=$(accuracy "$work/scratch.log")
echo "after one epoch on classes 5-9: fine-tuned $tuned%, from scratch $scratch%"
if [[ -n $tuned && -n $scratch ]] && awk -v a="$tuned" -v b="$scratch" 'BEGIN { exit !(a > b) }'
then pass; else fail "fine-tuning ($tuned%) does not beat training from scratch ($scratch%)"; fi

finish finetune_transfer
