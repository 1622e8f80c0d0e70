#!/bin/bash
# --tensorboard DIR: the event file read back with the tensorboard package's
# own reader (PyPI's tensorboard, which launch/install_deps.sh --tests
# installs): the format record first, every per-epoch scalar equal to the
# CSV's column at the epoch's last step, the per-step scalars at every
# --log-every-th step and equal to the CSV where both have them, the
# activation codec's ratio as `info` gives it; and a
# record whose payload is damaged is refused by the reader's CRC-32C check.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
$PY -c "import tensorboard" 2> /dev/null ||
    { echo "FAIL: /usr/bin/python3 lacks the tensorboard package (launch/install_deps.sh --tests)"; exit 1; }

"$BMST_DATA" synth --shape 8x8x3 --classes 4 --train 256 --test 64 --seed 1 "$work/d.h5" > /dev/null ||
    { echo "cannot make the dataset"; exit 1; }
# 16 steps an epoch, logged every 4: the epochs' last steps are logged too;
# pruning, so that epoch/sparsity is not 0
"$BMST_DIST" train --data "$work/d.h5" --device cpu --threads 1 --epochs 2 --batch 16 --merge 2 \
    --precision fp16 --prune-to 0.5 --prune-every 5 --csv "$work/r.csv" --tensorboard "$work/tb" \
    --log-every 4 > "$work/r.log" 2>&1 ||
    fail "the run: $(tail -2 "$work/r.log")"
files=("$work"/tb/events.out.tfevents.*)
[[ ${#files[@]} -eq 1 && -s ${files[0]} ]] && pass || fail "event files: ${files[*]}"

$PY - "${files[0]}" "$work/r.csv" << 'PY' && pass || fail "the scalars read back differ from the CSV"
import csv, sys
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.util import tensor_util

events = list(EventFileLoader(sys.argv[1]).Load())
assert events[0].file_version == "brain.Event:2", events[0]
scalars = {}  # tag -> {step: value}
for e in events[1:]:
    for v in e.summary.value:
        assert v.metadata.plugin_data.plugin_name == "scalars", v
        scalars.setdefault(v.tag, {})[e.step] = float(tensor_util.make_ndarray(v.tensor))

rows = list(csv.DictReader(l for l in open(sys.argv[2]) if not l.startswith("#")))
per_epoch = 16
for row in rows:
    step = int(row["epoch"]) * per_epoch
    for column, text in row.items():
        if column == "epoch":
            continue
        got = scalars[f"epoch/{column}"][step]
        want = float(text)
        # the CSV's own rounding (its last printed digit) and float32's
        decimals = len(text.split(".")[1]) if "." in text and "e" not in text else 6
        slack = 0.5 * 10 ** -decimals + 1e-6 * abs(want)
        assert abs(got - want) <= slack, (column, step, got, want)
assert set(t for t in scalars if t.startswith("epoch/")) == {f"epoch/{c}" for c in rows[0] if c != "epoch"}
assert "epoch/act_codec_ratio" not in scalars  # --act-codec plain: no ratio

steps = list(range(4, per_epoch * len(rows) + 1, 4))
for tag in ("step/loss", "step/lr", "step/loss_scale", "step/images_per_second"):
    assert sorted(scalars[tag]) == steps, (tag, sorted(scalars[tag]))
for row in rows:
    step = int(row["epoch"]) * per_epoch
    assert abs(scalars["step/lr"][step] - float(row["lr"])) <= 1e-6 * float(row["lr"]) + 5e-10, row
    assert scalars["step/loss_scale"][step] == float(row["loss_scale"]), row
assert all(v > 0 for v in scalars["step/images_per_second"].values())
assert all(0 < v < 20 for v in scalars["step/loss"].values()), scalars["step/loss"]
PY

# --act-codec relu-mask: the ratio of what plain would keep for backward to
# what the codec keeps, as `info` reports both
"$BMST_DIST" train --data "$work/d.h5" --device cpu --threads 1 --epochs 1 --batch 16 --merge 2 \
    --act-codec relu-mask --tensorboard "$work/tb_mask" > "$work/mask.log" 2>&1 ||
    fail "the relu-mask run: $(tail -2 "$work/mask.log")"
"$BMST_DIST" info --data "$work/d.h5" --batch 16 --merge 2 --act-codec relu-mask > "$work/info" 2>&1 ||
    fail "info: $(tail -2 "$work/info")"
$PY - "$work"/tb_mask/events.out.tfevents.* "$work/info" << 'PY' && pass || fail "the codec ratio"
import re, sys
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.util import tensor_util
ratio = [float(tensor_util.make_ndarray(v.tensor)) for e in EventFileLoader(sys.argv[1]).Load()
         for v in e.summary.value if v.tag == "epoch/act_codec_ratio"]
m = re.search(r"saved for backward \(--act-codec relu-mask\): ([0-9.]+) MiB, plain ([0-9.]+) MiB",
              open(sys.argv[2]).read())
want = float(m.group(2)) / float(m.group(1))
assert len(ratio) == 1 and ratio[0] > 1.05 and abs(ratio[0] - want) <= 0.015 * want, (ratio, want)
PY

# one payload byte changed: the reader's CRC check must refuse the record
cp "${files[0]}" "$work/bad"
$PY - "$work/bad" "${files[0]}" << 'PY' && pass || fail "a damaged record was read without complaint"
import sys
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
data = bytearray(open(sys.argv[1], "rb").read())
data[len(data) // 2] ^= 0x40
open(sys.argv[1], "wb").write(data)
whole = len(list(EventFileLoader(sys.argv[2]).Load()))
try:
    read = len(list(EventFileLoader(sys.argv[1]).Load()))
except Exception:
    read = -1
assert read < whole, (read, whole)
PY

finish "tensorboard"
