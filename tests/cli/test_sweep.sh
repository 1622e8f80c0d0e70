#!/usr/bin/env bash
# The bad-input sweep: over 200 ways a user can get a command wrong (every
# option with a missing, malformed, out-of-range or unknown value, options of
# the wrong command, and damaged, mismatched or hostile dataset, checkpoint
# and output files), each of which must end with a non-zero exit status (2 for
# a bad command line), exactly one line on stderr naming the problem, and no
# crash: run under AddressSanitizer and UndefinedBehaviorSanitizer in CI (label
# sanitize), a report from either fails the case (exit status 86, or a second
# line). Cases that need a finished training run share one small checkpoint.
source "$(dirname "$0")/lib.sh"
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}exitcode=86
export UBSAN_OPTIONS=${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}halt_on_error=1:exitcode=86
PY=/usr/bin/python3

data="$work/d.h5"
"$BMST_DATA" synth --shape 12x12x3 --classes 4 --train 64 --test 16 "$data" > /dev/null ||
    { echo "cannot make the dataset" >&2; exit 1; }
train=("$BMST_DIST" train --device cpu --data "$data" --net resnet20 --batch 16 --epochs 1
    --threads 1 --max-steps 1)
eval_=("$BMST_DIST" eval --device cpu --data "$data" --threads 1)
"${train[@]}" --save "$work/ck.h5" > /dev/null 2>&1 || { echo "cannot make the checkpoint" >&2; exit 1; }
"${train[@]}" --optimizer adam --save "$work/ck_adam.h5" > /dev/null 2>&1 ||
    { echo "cannot make the Adam checkpoint" >&2; exit 1; }

# --- options of train: missing, malformed, out of range -----------------------
expect_usage "value missing at the end" "option '--epochs' needs a value" "${train[@]}" --epochs
for opt in epochs batch eval-batch loader-threads prefetch max-steps loss-scale-window bucket-mib; do
    expect_usage "--$opt not a number" "--$opt expects an integer, got 'many'" "${train[@]}" --$opt many
    expect_usage "--$opt zero" "--$opt must be at least 1, got '0'" "${train[@]}" --$opt 0
    expect_usage "--$opt beyond an int" "--$opt expects an integer, got '99999999999'" \
        "${train[@]}" --$opt 99999999999
    expect_usage "--$opt=value" "--$opt expects an integer, got '1.5'" "${train[@]}" --$opt=1.5
done
for opt in lr gamma warmup-epochs momentum weight-decay label-smoothing clip-norm mix-alpha \
    loss-scale comm-timeout eps; do
    expect_usage "--$opt not a number" "--$opt expects a finite number, got 'x'" "${train[@]}" --$opt x
    expect_usage "--$opt NaN" "--$opt expects a finite number, got 'nan'" "${train[@]}" --$opt nan
    expect_usage "--$opt inf" "--$opt expects a finite number, got '-inf'" "${train[@]}" --$opt -inf
    expect_usage "--$opt negative" "--$opt must be at least" "${train[@]}" --$opt -1
done
for opt in merge threads loader-threads prefetch; do
    expect_usage "--$opt too large" "--$opt must be at most" "${train[@]}" --$opt 100000
done
for pair in "schedule:linear:unknown schedule 'linear'" "precision:fp8:--precision expects" \
    "device:npu:--device expects" "augment:maybe:--augment expects" \
    "grad-comm:fp64:--grad-comm expects" "on-nan:ignore:--on-nan expects" \
    "cuda-graph:yes:--cuda-graph expects" "mix-at:c1:--mix-at expects" "mix-at:C2:--mix-at expects" \
    "net:vgg16:unknown model 'vgg16'" "net::unknown model ''" "seed:-1:--seed expects" \
    "seed:1e3:--seed expects" "seed:99999999999999999999:--seed expects" \
    "inject-fault:1:--inject-fault expects" "inject-fault:a:b:--inject-fault expects" \
    "inject-fault:0:1:explode:--inject-fault expects" "inject-fault:-1:2:--inject-fault expects" \
    "milestones:a,b:bad milestones" "milestones:3,2:must be ascending" "milestones:,1:bad milestones" \
    "milestones:1,,2:bad milestones" "milestones:-1:bad milestones" \
    "optimizer:lion:--optimizer expects sgd, adam, adamw, got 'lion'" \
    "optimizer:Adam:--optimizer expects" "optimizer::--optimizer expects" \
    "betas:0.9:--betas expects B1,B2" "betas:1,0.999:--betas expects" "betas:0.9,1:--betas expects" \
    "betas:-0.1,0.9:--betas expects" "betas:x,y:--betas expects" "betas:0.9,0.999,0.5:--betas expects" \
    "betas:nan,0.9:--betas expects" "betas:0.9,:--betas expects" "betas:,0.9:--betas expects" \
    "no-decay:weights:--no-decay expects bn, bias, bn,bias or none, got 'weights'" \
    "no-decay:bn,:--no-decay expects" "no-decay::--no-decay expects" "no-decay:BN:--no-decay expects" \
    "no-decay:bn;bias:--no-decay expects"; do
    opt=${pair%%:*} rest=${pair#*:}
    value=${rest%:*} pattern=${rest##*:}
    # values that hold a colon (--inject-fault) keep all but the last field
    expect_usage "--$opt $value" "$pattern" "${train[@]}" --schedule multistep --$opt "$value"
done
expect_usage "label smoothing of 1" "--label-smoothing must be below 1" "${train[@]}" --label-smoothing 1
expect_usage "eps of 0" "--eps must be above 0, got 0" "${train[@]}" --optimizer adam --eps 0
expect_usage "--betas with SGD" "--betas does not apply to --optimizer sgd" "${train[@]}" --betas 0.8,0.99
expect_usage "--eps with SGD" "--eps does not apply to --optimizer sgd" "${train[@]}" --eps 1e-6
expect_usage "--momentum with Adam" "--momentum does not apply to --optimizer adam" \
    "${train[@]}" --optimizer adam --momentum 0.5
expect_usage "--nesterov with AdamW" "--nesterov does not apply to --optimizer adamw" \
    "${train[@]}" --nesterov --optimizer adamw
expect_usage "loss scale below 1" "--loss-scale must be at least 1" "${train[@]}" --loss-scale 0.5
expect_usage "a flag with a value" "option '--sync-bn' takes no value" "${train[@]}" --sync-bn=yes
expect_usage "an alias with =" "unknown option '-lr=0.1'" "${train[@]}" -lr=0.1
expect_usage "a single dash long option" "unknown option '-epochs'" "${train[@]}" -epochs 2
expect_usage "a stray word" "unknown option 'resnet18'" "${train[@]}" resnet18
expect_usage "an option for a value" "option '--save' needs a value" "${train[@]}" --save --batch 8
expect_usage "batch not divisible by merge" "not divisible by the merge factor 4" \
    "${train[@]}" --batch 18 --merge 4
expect_usage "a mix point the model lacks" "c5" "${train[@]}" --merge 2 --mix-at c5

# --- options that belong to another command ----------------------------------
for opt in "--checkpoint x" "--steps 3" "--warmup 1" "--shape 8x8x3" "--classes 3"; do
    expect_usage "train $opt" "does not apply to train" "${train[@]}" $opt
done
for opt in "--net resnet20" "--batch 8" "--merge 2" "--epochs 2" "--lr 0.1" "--save x.h5" \
    "--resume x.h5" "--sync-bn" "--deterministic" "--steps 3" "--on-nan skip" "--report r.json" \
    "--optimizer adam" "--betas 0.9,0.99" "--eps 1e-6" "--no-decay bn"; do
    expect_usage "eval $opt" "does not apply to eval" "${eval_[@]}" --checkpoint "$work/ck.h5" $opt
done
for opt in "--epochs 2" "--lr 0.1" "--save x.h5" "--csv x.csv" "--eval-batch 8" "--sync-bn" \
    "--report r.json" "--checkpoint x" "--betas 0.9,0.99" "--eps 1e-6" "--momentum 0.5"; do
    expect_usage "bench $opt" "does not apply to bench" "$BMST_DIST" bench --device cpu $opt
done
for opt in "--steps 3" "--epochs 2" "--save x.h5" "--checkpoint x" "--comm-timeout 5"; do
    expect_usage "info $opt" "does not apply to info" "$BMST_DIST" info $opt
done
for shape in 0x8x3 8x8 8x8x3x1 axbxc 8x8x0 8x8x9 70000x8x3 -8x8x3 8x8x3junk; do
    expect_usage "info --shape $shape" "--shape" "$BMST_DIST" info --shape "$shape"
done
expect_usage "info --classes 0" "--classes must be at least 1" "$BMST_DIST" info --classes 0
expect_usage "no command" "no command given" "$BMST_DIST"
expect_usage "unknown command" "unknown command 'tune'" "$BMST_DIST" tune --epochs 2
expect_usage "train without data" "needs --data" "$BMST_DIST" train --net resnet20
expect_usage "eval without a checkpoint" "needs --checkpoint" "${eval_[@]}"

# --- output files -----------------------------------------------------------------
mkdir -p "$work/dir"
for opt in save csv report; do
    expect_usage "--$opt over the dataset" "same file|the dataset" "${train[@]}" --$opt "$data"
    expect_usage "--$opt into a folder" "folder|directory" "${train[@]}" --$opt "$work/dir"
    expect_usage "--$opt empty" "the name is empty" "${train[@]}" --$opt ""
    expect_usage "--$opt in a missing folder" "missing|does not exist|No such" \
        "${train[@]}" --$opt "$work/none/x"
done
expect_usage "--save and --csv alike" "same file" "${train[@]}" --save "$work/o" --csv "$work/o"
expect_usage "--csv and --resume alike" "same file" "${train[@]}" --csv "$work/ck.h5" --resume "$work/ck.h5"
expect_usage "--save under /proc" "/proc" "${train[@]}" --save /proc/x.h5

# --- datasets -----------------------------------------------------------------------
"$PY" - "$work" << 'PY'
import sys, h5py, numpy as np, shutil
w = sys.argv[1]
def good(path, **attrs):
    shutil.copy(f"{w}/d.h5", path)
    f = h5py.File(path, "r+")
    for k, v in attrs.items():
        if v is None:
            del f.attrs[k]
        else:
            f.attrs[k] = v
    return f
cases = {
    "no_format": dict(format=None), "bad_format": dict(format="imagenet"),
    "version_9": dict(version=9), "version_text": dict(version="one"),
    "classes_0": dict(classes=0), "classes_huge": dict(classes=10**6),
    "classes_text": dict(classes="four"), "no_name": dict(name=None), "long_name": dict(name="n" * 100),
    "mean_short": dict(mean=np.zeros(2, np.float32)), "std_inf": dict(std=np.array([1, np.inf, 1], np.float32)),
    "mean_text": dict(mean="zero"), "no_std": dict(std=None),
}
for name, attrs in cases.items():
    good(f"{w}/{name}.h5", **attrs).close()
with good(f"{w}/no_test.h5") as f:
    del f["test"]
with good(f"{w}/labels_short.h5") as f:
    del f["train/labels"]; f["train/labels"] = np.zeros(3, np.int32)
with good(f"{w}/label_high.h5") as f:
    l = f["train/labels"][()]; l[5] = 4; f["train/labels"][...] = l
with good(f"{w}/label_negative.h5") as f:
    l = f["test/labels"][()]; l[0] = -1; f["test/labels"][...] = l
with good(f"{w}/labels_float.h5") as f:
    del f["train/labels"]; f["train/labels"] = np.zeros(64, np.float32)
with good(f"{w}/test_shape.h5") as f:
    del f["test/images"]; f["test/images"] = np.zeros((16, 10, 12, 3), np.uint8)
with good(f"{w}/empty_train.h5") as f:
    del f["train/images"]; del f["train/labels"]
    f["train/images"] = np.zeros((0, 12, 12, 3), np.uint8); f["train/labels"] = np.zeros(0, np.int32)
with good(f"{w}/images_group.h5") as f:
    del f["train/images"]; f.create_group("train/images")
PY
for name in no_format bad_format version_9 version_text classes_0 classes_huge classes_text no_name \
    long_name mean_short std_inf mean_text no_std no_test labels_short label_high label_negative \
    labels_float test_shape empty_train images_group; do
    expect_error "dataset $name" "$name.h5" "${train[@]}" --data "$work/$name.h5"
done
size=$(stat -c %s "$data")
for cut in 0 1 8 100 512 2048 4096 $((size / 2)) $((size - 100)) $((size - 1)); do
    head -c "$cut" "$data" > "$work/cut$cut.h5"
    expect_error "dataset cut at $cut bytes" "cut$cut.h5" "${train[@]}" --data "$work/cut$cut.h5"
done
printf 'epoch,loss\n1,2\n' > "$work/text.h5"
expect_error "a text file as the dataset" "text.h5" "${train[@]}" --data "$work/text.h5"
expect_error "a folder as the dataset" "dir" "${train[@]}" --data "$work/dir"
expect_error "a missing dataset" "gone.h5" "${train[@]}" --data "$work/gone.h5"
expect_error "the checkpoint as the dataset" "ck.h5" "${train[@]}" --data "$work/ck.h5"
expect_error "a dataset too small for the batch" "smaller than one batch" "${train[@]}" --batch 128
expect_error "bmst_data info of a checkpoint" "ck.h5" "$BMST_DATA" info "$work/ck.h5"

# --- checkpoints ------------------------------------------------------------------
"$PY" - "$work" << 'PY'
import sys, h5py, numpy as np, shutil
w = sys.argv[1]
def good(path):
    shutil.copy(f"{w}/ck.h5", path)
    return h5py.File(path, "r+")
def attrs(name, **kv):
    with good(f"{w}/{name}.h5") as f:
        for k, v in kv.items():
            if v is None:
                del f.attrs[k]
            else:
                f.attrs[k] = v
for name, kv in {"ck_no_arch": dict(arch=None), "ck_arch": dict(arch="resnet9000"),
                 "ck_version": dict(version=99), "ck_epoch": dict(epoch=-1),
                 "ck_epoch_max": dict(epoch=2**31 - 1), "ck_classes": dict(classes=7),
                 "ck_shape": dict(in_h=28), "ck_format": dict(format="torch"),
                 "ck_step": dict(step=-5), "ck_scale": dict(loss_scale=np.float32(np.nan))}.items():
    attrs(name, **kv)
with good(f"{w}/ck_missing_tensor.h5") as f:
    del f["model/conv1.weight"]
with good(f"{w}/ck_tensor_shape.h5") as f:
    t = f["model/fc.weight"][()]; del f["model/fc.weight"]; f["model/fc.weight"] = t[:, :3]
with good(f"{w}/ck_nan.h5") as f:
    t = f["model/conv1.weight"][()]; t.flat[0] = np.nan; f["model/conv1.weight"][...] = t
with good(f"{w}/ck_inf_stat.h5") as f:
    t = f["model/bn1.running_var"][()]; t[0] = np.inf; f["model/bn1.running_var"][...] = t
with good(f"{w}/ck_tensor_type.h5") as f:
    t = f["model/fc.bias"][()]; del f["model/fc.bias"]; f["model/fc.bias"] = t.astype(np.int32)
# the optimizer's part (format 4)
with good(f"{w}/ck_opt_kind.h5") as f:
    f["optimizer"].attrs["kind"] = "lion"
with good(f"{w}/ck_opt_no_kind.h5") as f:
    del f["optimizer"].attrs["kind"]
with good(f"{w}/ck_opt_no_decay.h5") as f:
    f["optimizer"].attrs["no_decay"] = "weights"
with good(f"{w}/ck_opt_momentum.h5") as f:
    f["optimizer"].attrs["momentum"] = -0.9
with good(f"{w}/ck_opt_no_group.h5") as f:
    del f["optimizer"]
with good(f"{w}/ck_opt_missing.h5") as f:
    del f["optimizer/momentum_buffer/conv1.weight"]
with good(f"{w}/ck_opt_nan.h5") as f:
    t = f["optimizer/momentum_buffer/fc.weight"][()]; t.flat[5] = np.nan
    f["optimizer/momentum_buffer/fc.weight"][...] = t
with good(f"{w}/ck_opt_shape.h5") as f:
    t = f["optimizer/momentum_buffer/fc.bias"][()]; del f["optimizer/momentum_buffer/fc.bias"]
    f["optimizer/momentum_buffer/fc.bias"] = t[:2]
def adam(path):
    shutil.copy(f"{w}/ck_adam.h5", path)
    return h5py.File(path, "r+")
with adam(f"{w}/ck_adam_no_step.h5") as f:
    del f["optimizer/step"]
with adam(f"{w}/ck_adam_step.h5") as f:
    del f["optimizer/step"]; f["optimizer/step"] = np.int64(-3)
with adam(f"{w}/ck_adam_betas.h5") as f:
    f["optimizer"].attrs["betas"] = np.array([0.9], np.float64)
with adam(f"{w}/ck_adam_eps.h5") as f:
    f["optimizer"].attrs["eps"] = np.inf
with adam(f"{w}/ck_adam_inf.h5") as f:
    t = f["optimizer/exp_avg_sq/layer1.0.conv1.weight"][()]; t.flat[0] = np.inf
    f["optimizer/exp_avg_sq/layer1.0.conv1.weight"][...] = t
with adam(f"{w}/ck_adam_missing.h5") as f:
    del f["optimizer/exp_avg/fc.weight"]
PY
for name in ck_no_arch ck_arch ck_version ck_epoch ck_epoch_max ck_classes ck_shape ck_format \
    ck_step ck_scale ck_missing_tensor ck_tensor_shape ck_nan ck_inf_stat ck_tensor_type \
    ck_opt_kind ck_opt_no_kind ck_opt_no_decay ck_opt_momentum ck_opt_no_group; do
    expect_error "eval of $name" "$name.h5" "${eval_[@]}" --checkpoint "$work/$name.h5"
    expect_error "resume from $name" "$name.h5" "${train[@]}" --epochs 2 --resume "$work/$name.h5"
done
# what only resuming reads: the optimizer's state
for name in ck_opt_missing ck_opt_nan ck_opt_shape; do
    expect_error "resume from $name" "$name.h5" "${train[@]}" --epochs 2 --resume "$work/$name.h5"
done
for name in ck_adam_no_step ck_adam_step ck_adam_betas ck_adam_eps ck_adam_inf ck_adam_missing; do
    expect_error "resume from $name" "$name.h5" "${train[@]}" --optimizer adam --epochs 2 \
        --resume "$work/$name.h5"
done
csize=$(stat -c %s "$work/ck.h5")
for cut in 0 16 1024 $((csize / 3)) $((csize - 64)); do
    head -c "$cut" "$work/ck.h5" > "$work/ckcut$cut.h5"
    expect_error "eval of a checkpoint cut at $cut" "ckcut$cut.h5" "${eval_[@]}" --checkpoint "$work/ckcut$cut.h5"
done
expect_error "eval of a dataset as checkpoint" "d.h5" "${eval_[@]}" --checkpoint "$data"
expect_error "eval of a missing checkpoint" "nothing.h5" "${eval_[@]}" --checkpoint "$work/nothing.h5"
expect_error "resume with another seed" "--seed" "${train[@]}" --epochs 2 --resume "$work/ck.h5" --seed 2
expect_error "resume another model" "resnet44" "${train[@]}" --epochs 2 --resume "$work/ck.h5" --net resnet44
expect_error "resume with another batch" "batch" "${train[@]}" --epochs 2 --resume "$work/ck.h5" --batch 8

# --- bmst_data ----------------------------------------------------------------------
expect_usage "bmst_data without a command" "missing command" "$BMST_DATA"
expect_usage "bmst_data unknown command" "unknown command" "$BMST_DATA" make
expect_usage "convert without arguments" "convert" "$BMST_DATA" convert
expect_usage "convert an unknown kind" "imagenet" "$BMST_DATA" convert imagenet "$work" "$work/o.h5"
expect_usage "convert without an output" "convert" "$BMST_DATA" convert cifar10 "$work"
expect_usage "convert option of another kind" "--size" "$BMST_DATA" convert cifar10 "$work" "$work/o.h5" --size 32
expect_usage "convert --threads 0" "--threads" "$BMST_DATA" convert flowers102 "$work" "$work/o.h5" --threads 0
expect_usage "convert --split odd" "--split" "$BMST_DATA" convert flowers102 "$work" "$work/o.h5" --split odd
expect_error "convert a missing folder" "nowhere" "$BMST_DATA" convert cifar10 "$work/nowhere" "$work/o.h5"
expect_error "convert an empty folder" "dir" "$BMST_DATA" convert fashion-mnist "$work/dir" "$work/o.h5"
for args in "--classes 4 --train 8 --test 2" "--shape 8x8x3 --train 8 --test 2" \
    "--shape 8x8x3 --classes 4 --test 2" "--shape 8x8x3 --classes 4 --train 8" \
    "--shape 8x8x5 --classes 4 --train 8 --test 2" "--shape 8x8x3 --classes 0 --train 8 --test 2" \
    "--shape 8x8x3 --classes 4 --train 0 --test 2" "--shape 8x8x3 --classes 4 --train x --test 2" \
    "--shape 8x8x3 --classes 4 --train 8 --test 2 --seed -3" "--shape 8x8 --classes 4 --train 8 --test 2"; do
    # shellcheck disable=SC2086
    expect_usage "synth $args" "synth|--" "$BMST_DATA" synth $args "$work/s.h5"
done
expect_usage "synth without an output" "synth" "$BMST_DATA" synth --shape 8x8x3 --classes 4 --train 8 --test 2
expect_error "synth into a folder" "dir" "$BMST_DATA" synth --shape 8x8x3 --classes 4 --train 8 --test 2 "$work/dir"
expect_error "synth over the checkpoint's folder" "none" \
    "$BMST_DATA" synth --shape 8x8x3 --classes 4 --train 8 --test 2 "$work/none/s.h5"
expect_usage "info without a file" "info" "$BMST_DATA" info
expect_error "info of a missing file" "absent.h5" "$BMST_DATA" info "$work/absent.h5"

echo "sweep: $((passed + failed)) cases"
((passed + failed >= 200)) || fail "the sweep has only $((passed + failed)) cases"
finish "sweep"
