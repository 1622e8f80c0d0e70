#!/usr/bin/env bash
# Training with a validation split (issue 20): on a Fashion-MNIST subset
# converted with --val-fraction, `train` scores /val after every epoch and
# /test at the end only (every epoch with --eval-test every-epoch), and says
# which is which on the epoch line, in the CSV, TensorBoard and the JSON
# report; the figures are those `eval --split val|test` gives the saved
# checkpoint; --keep-best and the report's best accuracy follow /val; and
# 2 ranks share /val and reduce it to one process's figures.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3 # the system Python, with h5py and the tensorboard package
HERE=$(dirname "$0")
FASHION_MNIST=${BMST_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}

# 320 training and 64 test images of the real files, of which --val-fraction
# moves 64 (stratified) from training to /val
mkdir -p "$work/src"
$PY "$HERE/idx_subset.py" "$FASHION_MNIST" "$work/src" 320 64 ||
    { fail "cannot cut Fashion-MNIST from $FASHION_MNIST"; finish val_split; exit 1; }
"$BMST_DATA" convert fashion-mnist "$work/src" "$work/fv.h5" --val-fraction 0.2 > /dev/null ||
    { fail "cannot convert the subset"; finish val_split; exit 1; }
"$BMST_DATA" convert fashion-mnist "$work/src" "$work/f.h5" > /dev/null ||
    { fail "cannot convert the subset without /val"; finish val_split; exit 1; }

# 16 steps make the accuracy move between epochs: with this seed and rate the
# best epoch on /val is neither the last nor /test's best (checked below), so
# a --keep-best that followed /test or the last epoch is caught
common=(--device cpu --threads 1 --net resnet20 --max-steps 4 --epochs 4 --lr 0.05
        --schedule constant --augment off --seed 3)
train=(--data "$work/fv.h5" "${common[@]}" --batch 32)
"$BMST_DIST" train "${train[@]}" --save "$work/a.h5" --keep-best "$work/best.h5" --csv "$work/a.csv" \
    --report "$work/a.json" --tensorboard "$work/tb" > "$work/a.log" 2>&1 ||
    { fail "training: $(tail -2 "$work/a.log")"; finish val_split; exit 1; }

# the epoch line: /val every epoch, /test after the last alone
$PY - "$work/a.log" << 'PY' && pass || fail "the epoch lines: $(grep '  train loss' "$work/a.log")"
import re, sys
lines = [l for l in open(sys.argv[1]) if "  train loss " in l]
assert len(lines) == 4, lines
for i, line in enumerate(lines):
    assert re.search(r"  val loss [0-9.]+  val acc [0-9.]+%  ", line), line
    assert ("test loss" in line) == (i == 3), line
text = open(sys.argv[1]).read()
assert "512 train" not in text and " 256 train / 64 val / 64 test images" in text, text
assert re.search(r"^done: val accuracy [0-9.]+% \(best [0-9.]+% at epoch \d\), test accuracy", text, re.M)
PY

# the CSV, the report and TensorBoard agree, name the splits, and leave
# /test out where it was not scored
$PY - "$work/a.csv" "$work/a.json" "$work/tb" > "$work/best_epoch" << 'PY' && pass ||
import csv, glob, json, sys
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.util import tensor_util
rows = list(csv.DictReader(l for l in open(sys.argv[1]) if not l.startswith("#")))
assert list(rows[0])[:7] == ["epoch", "train_loss", "lr", "val_loss", "val_accuracy", "test_loss",
                             "test_accuracy"], list(rows[0])
assert [r["test_accuracy"] == "" for r in rows] == [True, True, True, False], rows
assert "# dataset.val: 64" in open(sys.argv[1]).read()
report = json.load(open(sys.argv[2]))
run, epochs = report["run"], report["epochs"]
assert "best_test_accuracy" not in run and run["dataset"]["val"] == 64, run
val = [float(r["val_accuracy"]) for r in rows]
best = val.index(max(val)) + 1
assert abs(run["best_val_accuracy"] - max(val)) < 1e-6 and run["best_epoch"] == best, (run, val)
for row, e in zip(rows, epochs):
    assert abs(e["val_accuracy"] - float(row["val_accuracy"])) < 1e-6, (e, row)
    assert abs(e["val_loss"] - float(row["val_loss"])) < 1e-5 * e["val_loss"], (e, row)
    if row["test_accuracy"]:
        assert abs(e["test_accuracy"] - float(row["test_accuracy"])) < 1e-6, (e, row)
    else:
        assert e["test_accuracy"] is None and e["test_loss"] is None, e
scalars = {}
for ev in EventFileLoader(glob.glob(sys.argv[3] + "/events.out.tfevents.*")[0]).Load():
    for v in ev.summary.value:
        scalars.setdefault(v.tag, []).append(float(tensor_util.make_ndarray(v.tensor)))
assert [round(v, 5) for v in scalars["epoch/val_accuracy"]] == [round(v, 5) for v in val], scalars
assert len(scalars["epoch/test_accuracy"]) == 1, scalars["epoch/test_accuracy"]
assert abs(scalars["epoch/test_accuracy"][0] - float(rows[-1]["test_accuracy"])) < 1e-6
print(best)
PY
    fail "the CSV, report and TensorBoard: $(grep -v '^#' "$work/a.csv" | cut -d, -f1-7)"
best=$(cat "$work/best_epoch")

# eval of the saved checkpoint reproduces the last epoch's figures, per split
acc() { sed -n 's/.* split: loss \([0-9.]*\), accuracy \([0-9.]*\)%.*/\1 \2/p' "$1"; }
"$BMST_DIST" eval --data "$work/fv.h5" --checkpoint "$work/a.h5" --device cpu --threads 1 \
    --split val > "$work/ev.log" 2>&1 || fail "eval --split val: $(tail -1 "$work/ev.log")"
"$BMST_DIST" eval --data "$work/fv.h5" --checkpoint "$work/a.h5" --device cpu --threads 1 \
    > "$work/et.log" 2>&1 || fail "eval: $(tail -1 "$work/et.log")"
grep -q "on fashion-mnist validation split: .* (64 images" "$work/ev.log" &&
    grep -q "on fashion-mnist test split: .* (64 images" "$work/et.log" && pass ||
    fail "eval's lines: $(cat "$work/ev.log" "$work/et.log")"
$PY - "$work/a.csv" "$(acc "$work/ev.log")" "$(acc "$work/et.log")" << 'PY' && pass ||
import csv, sys
last = list(csv.DictReader(l for l in open(sys.argv[1]) if not l.startswith("#")))[-1]
for split, figures in (("val", sys.argv[2]), ("test", sys.argv[3])):
    loss, accuracy = map(float, figures.split())
    assert abs(loss - float(last[split + "_loss"])) < 1e-5, (split, loss, last)
    assert abs(accuracy / 100 - float(last[split + "_accuracy"])) < 1e-4, (split, accuracy, last)
PY
    fail "eval against the last epoch: val $(acc "$work/ev.log"), test $(acc "$work/et.log")"

# --keep-best holds the epoch of the best /val accuracy, and scores it
"$BMST_DIST" eval --data "$work/fv.h5" --checkpoint "$work/best.h5" --device cpu --threads 1 \
    --split val > "$work/eb.log" 2>&1 || fail "eval of --keep-best: $(tail -1 "$work/eb.log")"
$PY - "$work/best.h5" "$work/a.csv" "$best" "$(acc "$work/eb.log")" << 'PY' && pass ||
import csv, sys, h5py
rows = list(csv.DictReader(l for l in open(sys.argv[2]) if not l.startswith("#")))
best = int(sys.argv[3])
assert best != len(rows), f"the best /val epoch is the last ({best}): pick another seed"
assert h5py.File(sys.argv[1], "r").attrs["epoch"] == best, h5py.File(sys.argv[1], "r").attrs["epoch"]
accuracy = float(sys.argv[4].split()[1])
assert abs(accuracy / 100 - float(rows[best - 1]["val_accuracy"])) < 1e-4, (accuracy, rows[best - 1])
PY
    fail "--keep-best: $(tail -1 "$work/eb.log"), best /val epoch $best"

# --eval-test every-epoch: /test on every row too (the same run otherwise),
# and /test's best epoch is not /val's, so the check above could tell them apart
"$BMST_DIST" train "${train[@]}" --eval-test every-epoch --csv "$work/e.csv" > "$work/e.log" 2>&1 ||
    fail "--eval-test every-epoch: $(tail -2 "$work/e.log")"
$PY - "$work/a.csv" "$work/e.csv" << 'PY' && pass ||
import csv, sys
a, e = ([r for r in csv.DictReader(l for l in open(p) if not l.startswith("#"))] for p in sys.argv[1:])
assert all(r["test_accuracy"] != "" for r in e), e
assert [r["val_accuracy"] for r in a] == [r["val_accuracy"] for r in e], (a, e)
val = [float(r["val_accuracy"]) for r in e]
test = [float(r["test_accuracy"]) for r in e]
assert val.index(max(val)) != test.index(max(test)), f"/val and /test peak together: {val} {test}"
PY
    fail "--eval-test every-epoch: $(grep -v '^#' "$work/e.csv" | cut -d, -f1-7)"

# without /val: /test every epoch as before, and nothing to score for --split val
"$BMST_DIST" train --data "$work/f.h5" "${common[@]}" --batch 32 --epochs 2 --csv "$work/n.csv" > "$work/n.log" 2>&1 ||
    fail "training without /val: $(tail -2 "$work/n.log")"
[[ $(grep -c "  test loss .*  test acc" "$work/n.log") -eq 2 && $(grep -Ec "val (loss|acc)" "$work/n.log") -eq 0 &&
   $(grep -v '^#' "$work/n.csv" | head -1 | cut -d, -f4-5) == "test_loss,test_accuracy" ]] && pass ||
    fail "without /val: $(grep '  train loss' "$work/n.log")"
expect_error "eval --split val without /val" "has no validation split \(/val\)" \
    "$BMST_DIST" eval --data "$work/f.h5" --checkpoint "$work/a.h5" --device cpu --split val
expect_usage "--eval-test typo" "--eval-test expects end or every-epoch, got 'never'" \
    "$BMST_DIST" train "${train[@]}" --eval-test never
expect_usage "--split typo" "--split expects test or val, got 'train'" \
    "$BMST_DIST" eval --data "$work/fv.h5" --checkpoint "$work/a.h5" --split train

# 2 ranks: each scores its share of /val and the sums are reduced, so the
# 2-rank run's last /val figures are those one process gives its checkpoint,
# and a 2-rank `eval --split val` gives them too
if command -v mpirun > /dev/null && [[ -n $(ldd "$BMST_DIST" | grep -i libmpi) ]]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    ranks=(env OMP_NUM_THREADS=1 timeout -k 5 120 mpirun --oversubscribe -np 2 "$BMST_DIST")
    "${ranks[@]}" train --data "$work/fv.h5" "${common[@]}" --batch 16 --epochs 2 \
        --save "$work/two.h5" --csv "$work/two.csv" > "$work/two.log" 2>&1 ||
        fail "2 ranks: $(tail -2 "$work/two.log")"
    "$BMST_DIST" eval --data "$work/fv.h5" --checkpoint "$work/two.h5" --device cpu --threads 1 \
        --split val > "$work/two1.log" 2>&1 || fail "eval of the 2-rank run: $(tail -1 "$work/two1.log")"
    "${ranks[@]}" eval --data "$work/fv.h5" --checkpoint "$work/two.h5" --device cpu --threads 1 \
        --split val > "$work/two2.log" 2>&1 || fail "2-rank eval: $(tail -1 "$work/two2.log")"
    $PY - "$work/two.csv" "$(acc "$work/two1.log")" "$(acc "$work/two2.log")" << 'PY' && pass ||
import csv, sys
last = list(csv.DictReader(l for l in open(sys.argv[1]) if not l.startswith("#")))[-1]
assert last["epoch"] == "2" and last["test_accuracy"] != "", last
for figures in sys.argv[2:]:
    loss, accuracy = map(float, figures.split())
    assert abs(loss - float(last["val_loss"])) < 1e-5, (loss, last["val_loss"])
    assert abs(accuracy / 100 - float(last["val_accuracy"])) < 1e-4, (accuracy, last["val_accuracy"])
PY
        fail "2 ranks' /val figures: training $(grep -v '^#' "$work/two.csv" | tail -1 | cut -d, -f4-5), eval by 1 process $(acc "$work/two1.log"), by 2 $(acc "$work/two2.log")"
else
    echo "SKIP: the 2-rank check needs mpirun and an MPI build (not counted as passed)"
fi

finish val_split
