#!/usr/bin/env bash
# What a checkpoint records of its run and what resuming makes of it: an
# unknown format version, an impossible epoch or a tensor the model does not
# have is refused with one line;
# version 2 and 3 files (no record, SGD's momentum alone) still load; another
# global batch or another optimizer is refused, another merge, learning rate,
# rank count at the same global batch or optimizer setting gives one notice
# line; re-planning a cosine schedule with another --epochs gives one warning
# with both rates; and the cosine schedule is PyTorch's CosineAnnealingLR (the
# last step's rate is not 0).
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3 # the system Python, with h5py, numpy and torch

data="$work/d.h5"
"$BMST_DATA" synth --shape 8x8x1 --classes 4 --train 256 --test 32 "$data" > /dev/null ||
    { echo "cannot make the test dataset" >&2; exit 1; }
train=("$BMST_DIST" train --device cpu --data "$data" --net resnet20 --batch 8 --threads 1
       --max-steps 4 --lr 0.1)

"${train[@]}" --epochs 2 --save "$work/base.h5" --csv "$work/base.csv" > "$work/base.log" 2>&1 ||
    { fail "the first run: $(tail -2 "$work/base.log")"; finish resume_checks; exit 1; }

# edit FILE KEY=VALUE...: set root attributes (int32 unless a float; `del` removes)
edit() {
    local file=$1
    shift
    $PY - "$file" "$@" << 'PY' || fail "cannot edit $file"
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    for item in sys.argv[2:]:
        key, value = item.split("=")
        if value == "del":
            del f.attrs[key]
        elif "." in value or "e" in value:
            f.attrs[key] = np.float32(value)
        else:
            f.attrs[key] = np.int32(value)
PY
}

# the record: the run's settings and the rate of its last step (the CSV's
# last lr, which is the epoch's last step's)
$PY - "$work/base.h5" "$work/base.csv" << 'PY' && pass || fail "the run's record"
import sys, csv, h5py
a = h5py.File(sys.argv[1], "r").attrs
last = float(list(csv.DictReader(l for l in open(sys.argv[2]) if not l.startswith("#")))[-1]["lr"])
want = dict(version=6, batch=8, ranks=1, merge=1, planned_epochs=2, steps_per_epoch=4, epoch=2)
got = {k: int(a[k]) for k in want}
assert got == want, got
assert abs(float(a["lr"]) - 0.1) < 1e-7 and abs(float(a["last_lr"]) - last) <= 1e-5 * last, \
    (a["lr"], a["last_lr"], last)
PY

# --- refused: unknown versions, impossible epochs --------------------------
for bad in "version=99:format version 99; this bmst_dist reads versions 2 to 6" \
    "version=1:format version 1; this bmst_dist reads versions 2 to 6" \
    "epoch_steps=4:damaged or not ours: it records 4 steps into its epoch" \
    "epoch=-1:damaged or not ours: it records epoch -1 after 8 steps" \
    "epoch=2147483647:damaged or not ours: it records epoch 2147483647 after 8 steps"; do
    cp "$work/base.h5" "$work/bad.h5"
    edit "$work/bad.h5" "${bad%%:*}"
    expect_error "eval with ${bad%%:*}" "${bad#*:}" \
        "$BMST_DIST" eval --device cpu --data "$data" --checkpoint "$work/bad.h5"
    expect_error "resume with ${bad%%:*}" "${bad#*:}" \
        "${train[@]}" --epochs 3 --resume "$work/bad.h5"
done

# --- a tensor the model lacks is refused, as load_state_dict(strict=True) ----
# add FILE GROUP NAME: a float tensor GROUP/NAME of one element
add_tensor() {
    $PY - "$@" << 'PY' || fail "cannot add $3 to $1"
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    f[sys.argv[2]].create_dataset(sys.argv[3], data=np.zeros(1, np.float32))
PY
}
cp "$work/base.h5" "$work/extra.h5"
add_tensor "$work/extra.h5" model layer9.0.conv1.weight
expect_error "eval with a tensor the model lacks" \
    "checkpoint .*extra.h5 holds model/layer9.0.conv1.weight, which this model does not have" \
    "$BMST_DIST" eval --device cpu --data "$data" --checkpoint "$work/extra.h5"
cp "$work/base.h5" "$work/extra.h5"
add_tensor "$work/extra.h5" optimizer/momentum_buffer bn1.running_mean
expect_error "resume with momentum for a buffer" \
    "holds optimizer/momentum_buffer/bn1.running_mean, which this model does not have" \
    "${train[@]}" --epochs 3 --resume "$work/extra.h5"

# --- a version 4 file (before the position inside an epoch) resumes --------
cp "$work/base.h5" "$work/v4.h5"
edit "$work/v4.h5" version=4 epoch_steps=del epoch_loss_mean=del epoch_applied=del \
    best_accuracy=del best_epoch=del
"${train[@]}" --epochs 3 --resume "$work/v4.h5" > "$work/v4.log" 2>&1 && pass ||
    fail "resume from a version 4 checkpoint: $(tail -1 "$work/v4.log")"

# --- version 2 and 3 files (before the optimizer's record: SGD's momentum
# alone, as /optimizer/momentum) still evaluate and resume -------------------
# as_version3 FILE: the optimizer's part as version 3 wrote it
as_version3() {
    $PY - "$1" << 'PY' || fail "cannot make $1 a version 3 file"
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:
    f.attrs["version"] = 3
    g = f["optimizer"]
    g.move("momentum_buffer", "momentum")
    for key in list(g.attrs):
        del g.attrs[key]
PY
}
cp "$work/base.h5" "$work/v3.h5"
as_version3 "$work/v3.h5"
"${train[@]}" --epochs 3 --resume "$work/v3.h5" > "$work/v3.log" 2>&1 && pass ||
    fail "resume from a version 3 checkpoint: $(tail -1 "$work/v3.log")"
[[ $(grep -c "note: checkpoint .* (format version 3) does not record its optimizer's settings" \
    "$work/v3.log") -eq 1 ]] && pass || fail "no notice that a version 3 file's optimizer settings go unchecked"
expect_error "resume a version 3 file with Adam" \
    "checkpoint .*v3.h5 holds the state of --optimizer sgd; this run's is --optimizer adam" \
    "${train[@]}" --epochs 3 --optimizer adam --resume "$work/v3.h5"
cp "$work/v3.h5" "$work/v2.h5"
edit "$work/v2.h5" version=2 batch=del ranks=del merge=del lr=del last_lr=del planned_epochs=del \
    steps_per_epoch=del
"$BMST_DIST" eval --device cpu --data "$data" --checkpoint "$work/v2.h5" > /dev/null 2>&1 && pass ||
    fail "eval of a version 2 checkpoint"
"${train[@]}" --epochs 3 --resume "$work/v2.h5" > "$work/v2.log" 2>&1 && pass ||
    fail "resume from a version 2 checkpoint: $(tail -1 "$work/v2.log")"
[[ $(grep -c "note: checkpoint .* (format version 2) does not record" "$work/v2.log") -eq 1 ]] &&
    pass || fail "no notice that a version 2 file's settings go unchecked"

# --- another optimizer is refused; its settings give one notice -------------
expect_error "resume SGD's state with AdamW" \
    "checkpoint .*base.h5 holds the state of --optimizer sgd; this run's is --optimizer adamw" \
    "${train[@]}" --epochs 3 --optimizer adamw --resume "$work/base.h5"
"${train[@]}" --epochs 1 --optimizer adamw --save "$work/adamw.h5" > "$work/aw.log" 2>&1 ||
    fail "an AdamW run: $(tail -1 "$work/aw.log")"
expect_error "resume AdamW's state with SGD" \
    "checkpoint .*adamw.h5 holds the state of --optimizer adamw; this run's is --optimizer sgd" \
    "${train[@]}" --epochs 2 --resume "$work/adamw.h5"
"${train[@]}" --epochs 2 --optimizer adamw --betas 0.8,0.99 --eps 1e-6 --no-decay bn \
    --resume "$work/adamw.h5" > "$work/awc.log" 2>&1 || fail "AdamW with other settings: $(tail -1 "$work/awc.log")"
[[ $(grep -c "note: resuming .* with other settings than it was trained with, --betas 0.8,0.99 (was 0.9,0.999), --eps 1e-06 (was 1e-08), --no-decay bn (was none)" \
    "$work/awc.log") -eq 1 ]] && pass || fail "notice of the optimizer's changes: $(grep note "$work/awc.log")"
"${train[@]}" --epochs 3 --momentum 0.5 --nesterov --weight-decay 0 --resume "$work/base.h5" \
    > "$work/sgdc.log" 2>&1 || fail "SGD with other settings: $(tail -1 "$work/sgdc.log")"
[[ $(grep -c "note: resuming .* with other settings than it was trained with, --momentum 0.5 (was 0.9), --nesterov on (was off), --weight-decay 0 (was 0.0005)" \
    "$work/sgdc.log") -eq 1 ]] && pass || fail "notice of SGD's changes: $(grep note "$work/sgdc.log")"

# --- another global batch is refused; merge and lr give one notice ---------
expect_error "resume with another --batch" \
    "trained with a global batch of 8 \(--batch 8 on 1 rank\), this run's is 16 \(--batch 16 on 1\)" \
    "${train[@]}" --epochs 3 --batch 16 --resume "$work/base.h5"
"${train[@]}" --epochs 3 --merge 2 --lr 0.05 --resume "$work/base.h5" > "$work/changed.log" 2>&1 ||
    fail "resume with another merge and lr: $(tail -1 "$work/changed.log")"
[[ $(grep -c "bmst_dist: note: resuming .* with other settings than it was trained with, --merge 2 (was 1), --lr 0.05 (was 0.1)" \
    "$work/changed.log") -eq 1 ]] && pass || fail "notice of the changes: $(grep note "$work/changed.log")"
"${train[@]}" --epochs 2 --resume "$work/base.h5" > "$work/same.log" 2>&1 || fail "resume as it was"
grep -q -E "note|warning" "$work/same.log" && fail "notices for an unchanged resume: $(grep -E "note|warning" "$work/same.log")" || pass

# --- another rank count at the same global batch: one notice; another
# global batch: refused (needs mpirun; said when it cannot run, not passed)
if command -v mpirun > /dev/null && [[ -n $(ldd "$BMST_DIST" | grep -i libmpi) ]]; then
    ranks=(env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
           timeout -k 5 120 mpirun --oversubscribe -np 2)
    "${ranks[@]}" "${train[@]}" --epochs 3 --batch 4 --resume "$work/base.h5" > "$work/r2.log" 2>&1 ||
        fail "2 ranks of --batch 4 resuming 1 of 8: $(grep error "$work/r2.log" | head -1)"
    [[ $(grep -c "note: resuming .*, 2 ranks of --batch 4 (was 1 of 8)" "$work/r2.log") -eq 1 ]] &&
        pass || fail "no notice for 2 ranks of --batch 4: $(grep note "$work/r2.log")"
    "${ranks[@]}" "${train[@]}" --epochs 3 --resume "$work/base.h5" > "$work/r3.log" 2>&1 &&
        fail "2 ranks of --batch 8 resumed a global batch of 8"
    grep -q "error: checkpoint .* was trained with a global batch of 8 (--batch 8 on 1 rank), this run's is 16 (--batch 8 on 2)" \
        "$work/r3.log" && pass || fail "2 ranks of --batch 8: $(grep error "$work/r3.log" | head -1)"
else
    echo "SKIP: the rank-count checks need mpirun and an MPI build (not counted as passed)"
fi

# --- a cosine run extended with another --epochs: one warning, both rates ---
"${train[@]}" --epochs 4 --resume "$work/base.h5" --csv "$work/ext.csv" > "$work/ext.log" 2>&1 ||
    fail "extending the run: $(tail -1 "$work/ext.log")"
$PY - "$work/ext.log" << 'PY' && pass || fail "the re-plan warning: $(grep warning "$work/ext.log")"
import sys, re, math
lines = [l for l in open(sys.argv[1]) if "warning" in l]
assert len(lines) == 1, lines
m = re.search(r"over 2 epochs of 4 steps; --epochs 4 of 4 steps re-plans it, so the learning rate goes "
              r"from (\S+) at its last step to (\S+) ", lines[0])
assert m, lines[0]
cosine = lambda t, n: 0.05 * (1 + math.cos(math.pi * t / n))
last, nxt = float(m.group(1)), float(m.group(2))
assert abs(last - cosine(7, 8)) < 5e-3 * cosine(7, 8), (last, cosine(7, 8))  # 3 digits
assert abs(nxt - cosine(8, 16)) < 5e-3 * cosine(8, 16), (nxt, cosine(8, 16))
PY

# --- the cosine schedule is torch.optim.lr_scheduler's, step by step: one
# step per epoch makes the CSV's lr column every step's rate ----------------
for warmup in 0 2; do
    "${train[@]}" --epochs 6 --max-steps 1 --warmup-epochs $warmup --csv "$work/cos$warmup.csv" \
        > "$work/cos.log" 2>&1 || fail "cosine run: $(tail -1 "$work/cos.log")"
    $PY - "$work/cos$warmup.csv" $warmup << 'PY' 2> "$work/torch.err" && pass ||
import sys, csv, warnings
warnings.simplefilter("ignore")
import torch
ours = [float(r["lr"]) for r in csv.DictReader(l for l in open(sys.argv[1]) if not l.startswith("#"))]
warmup, steps = int(sys.argv[2]), 6
opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps - warmup)
if warmup:  # step i < W at lr * (i + 1) / W, then the cosine over the rest
    linear = torch.optim.lr_scheduler.LinearLR(opt, 1 / warmup, 1.0, total_iters=warmup - 1)
    sched = torch.optim.lr_scheduler.SequentialLR(opt, [linear, cosine], milestones=[warmup])
else:
    sched = cosine
theirs = []
for _ in range(steps):
    theirs.append(opt.param_groups[0]["lr"])
    opt.step()
    sched.step()
assert len(ours) == steps and all(abs(a - b) <= 1e-6 * 0.1 for a, b in zip(ours, theirs)), \
    (ours, theirs)
assert theirs[-1] > 0  # 0 comes after the last step, as in PyTorch
PY
        fail "cosine (warmup $warmup) differs from PyTorch's: $(tail -1 "$work/torch.err")"
done

finish resume_checks
