#!/usr/bin/env bash
# Every bad input a user can give ends with one line naming the problem and a
# non-zero exit: no crash, no core dump, and never a damaged checkpoint.
source "$(dirname "$0")/lib.sh"

data="$work/synth.h5"
"$BMST_DATA" synth --shape 12x12x3 --classes 4 --train 64 --test 16 "$data" > /dev/null ||
    { echo "cannot make the test dataset" >&2; exit 1; }
train=("$BMST_DIST" train --device cpu --data "$data" --net resnet20 --batch 16 --epochs 1 --threads 1)

expect_usage "no command" "no command given" "$BMST_DIST"
expect_usage "unknown command" "unknown command 'fly'" "$BMST_DIST" fly
expect_usage "unknown model" "unknown model 'resnet7' \(known: resnet18 " "${train[@]}" --net resnet7
expect_usage "unknown model for info" "unknown model 'vgg'" "$BMST_DIST" info --net vgg
expect_usage "unknown flag" "unknown option '--frobnicate'" "${train[@]}" --frobnicate 3
expect_usage "missing value" "needs a value" "${train[@]}" --lr
expect_usage "an option for a value" "^bmst_dist: error: option '--data' needs a value$" \
    "$BMST_DIST" train --data --batch 32
expect_usage "a short option for a value" "option '--lr' needs a value" "${train[@]}" --lr -b 8
expect_usage "comm timeout of zero" "--comm-timeout must be at least" "${train[@]}" --comm-timeout 0
expect_usage "bad BMST_NCCL_TIMEOUT_S" "BMST_NCCL_TIMEOUT_S=soon: expected a number of seconds" \
    env BMST_NCCL_TIMEOUT_S=soon "${train[@]}"
expect_usage "malformed number" "expects a finite number" "${train[@]}" --lr fast
expect_usage "infinite learning rate" "--lr expects a finite number, got 'inf'" "${train[@]}" --lr inf
expect_usage "a rate beyond a float" "--lr expects a finite number, got '1e39'" "${train[@]}" --lr 1e39
expect_usage "a value after =" "--batch expects an integer, got 'x'" "${train[@]}" --batch=x
expect_usage "a flag given a value" "option '--nesterov' takes no value" "${train[@]}" --nesterov=1
expect_usage "merge above the engine's" "--merge must be at most 8, got '16'" "${train[@]}" --merge 16
expect_usage "absurd thread count" "--threads must be at most 1024" "${train[@]}" --threads 1000000
expect_usage "milestones ending in a comma" "bad milestones '1,'" \
    "${train[@]}" --schedule multistep --milestones 1,
expect_error "a fault for a rank the job lacks" "names rank 5, but the job has 1 rank" \
    "${train[@]}" --inject-fault 5:1
expect_usage "five channels" "--shape 16x16x5: .*up to 4 channels" "$BMST_DIST" info --shape 16x16x5
expect_error "negative learning rate" "--lr must be at least 0" "${train[@]}" --lr -0.1
expect_error "batch of zero" "--batch must be at least 1" "${train[@]}" --batch 0
expect_error "short batch alias of zero" "-b must be at least 1" "${train[@]}" -b 0
expect_error "batch not divisible by merge" "not divisible by the merge factor 4" \
    "${train[@]}" --batch 18 --merge 4
expect_usage "mix point the model lacks" "no stage c5" "${train[@]}" --merge 2 --mix-at c5
expect_error "bad mix point" "--mix-at expects" "${train[@]}" --mix-at c
expect_usage "a mix point past the model's" "no stage c9" "${train[@]}" --mix-at c9
expect_error "unknown precision" "--precision expects fp32, fp16 or bf16" "${train[@]}" --precision fp8
expect_error "unknown device" "--device expects cpu, cuda or auto" "${train[@]}" --device tpu
expect_error "bad graph switch" "--cuda-graph expects on or off" "${train[@]}" --cuda-graph maybe
expect_error "determinism for a command that does not train" \
    "option '--deterministic' does not apply to eval" \
    "$BMST_DIST" eval --data "$data" --checkpoint "$work/none.h5" --deterministic
expect_error "loss scale below 1" "--loss-scale must be at least 1" "${train[@]}" --loss-scale 0.5
# with every GPU hidden, asking for one is an error, not a silent CPU run
expect_error "gpu without a GPU" "--device cuda: " env CUDA_VISIBLE_DEVICES= "${train[@]}" -gpu
expect_error "no data" "needs --data" "$BMST_DIST" train --net resnet20
expect_error "missing dataset file" "nonexistent.h5" "${train[@]}" --data "$work/nonexistent.h5"

printf 'this is not an HDF5 file\n' > "$work/text.h5"
expect_error "not an HDF5 file" "text.h5" "${train[@]}" --data "$work/text.h5"
head -c 3000 "$data" > "$work/truncated.h5"
expect_error "truncated HDF5 file" "truncated.h5" "${train[@]}" --data "$work/truncated.h5"
/usr/bin/python3 - "$work" <<'PY'
import sys, h5py, numpy as np
work = sys.argv[1]
def base(path):
    f = h5py.File(path, "w")
    f.attrs["format"] = "bmst_dataset"; f.attrs["version"] = 1; f.attrs["name"] = "bad"
    f.attrs["classes"] = 4
    f.attrs["mean"] = np.zeros(3, np.float32); f.attrs["std"] = np.ones(3, np.float32)
    return f
with base(f"{work}/rank.h5") as f:  # images of rank 3
    for s in ("train", "test"):
        f[f"{s}/images"] = np.zeros((8, 12, 36), np.uint8)
        f[f"{s}/labels"] = np.zeros(8, np.int32)
for name, attr, value in (("longname", "name", "n" * 300),
                          ("nanmean", "mean", np.array([0, np.nan, 0], np.float32)),
                          ("negstd", "std", np.array([1, -1, 1], np.float32))):
    with base(f"{work}/{name}.h5") as f:
        f.attrs[attr] = value
        for s in ("train", "test"):
            f[f"{s}/images"] = np.zeros((8, 12, 12, 3), np.uint8)
            f[f"{s}/labels"] = np.zeros(8, np.int32)
with base(f"{work}/dtype.h5") as f:  # float images
    for s in ("train", "test"):
        f[f"{s}/images"] = np.zeros((8, 12, 12, 3), np.float32)
        f[f"{s}/labels"] = np.zeros(8, np.int32)
with base(f"{work}/group.h5") as f:  # a group where the images should be
    for s in ("train", "test"):
        f.create_group(f"{s}/images")
        f[f"{s}/labels"] = np.zeros(8, np.int32)
with base(f"{work}/lzf.h5") as f:  # h5py's own compression, which libhdf5 lacks
    for s in ("train", "test"):
        f.create_dataset(f"{s}/images", data=np.zeros((8, 12, 12, 3), np.uint8),
                         compression="lzf")
        f[f"{s}/labels"] = np.zeros(8, np.int32)
PY
expect_error "a name over 63 bytes" "longname.h5: attribute 'name' is longer than 63 bytes" \
    "${train[@]}" --data "$work/longname.h5"
expect_error "a NaN mean" "nanmean.h5: channel 1 has mean nan" "${train[@]}" --data "$work/nanmean.h5"
expect_error "a negative std" "negstd.h5: channel 1 has mean 0 and std -1" \
    "${train[@]}" --data "$work/negstd.h5"
expect_error "images of the wrong rank" "rank.h5.*rank|rank.*rank.h5" "${train[@]}" --data "$work/rank.h5"
expect_error "images of the wrong type" "dtype.h5.*(type|uint8)|(type|uint8).*dtype.h5" \
    "${train[@]}" --data "$work/dtype.h5"
# HDF5's own words (calls, source lines) never reach the user
expect_error "a group for the images" \
    "^bmst_dist: error: [^ ]*/group.h5: /train/images is a group, where the format has a dataset" \
    "${train[@]}" --data "$work/group.h5"
expect_error "compression this HDF5 lacks" \
    "^bmst_dist: error: [^ ]*/lzf.h5: /train/images is compressed with the 'lzf' filter .* cannot decode" \
    "${train[@]}" --data "$work/lzf.h5"
for f in group lzf; do
    "${train[@]}" --data "$work/$f.h5" 2>&1 | grep -q -E "H5[A-Z][a-z]*[0-9]*\(|\.c:[0-9]+" &&
        fail "$f.h5: HDF5 internals in the message" || pass
done

# an unwritable checkpoint path fails before training starts
expect_error "checkpoint in a missing directory" "cannot write the checkpoint" \
    "${train[@]}" --save "$work/no/such/dir/ckpt.h5"

# a checkpoint survives a failed attempt to overwrite it
ckpt="$work/ckpt.h5"
"${train[@]}" --max-steps 2 --save "$ckpt" > /dev/null 2>&1 || fail "training a checkpoint"
cp "$ckpt" "$work/ckpt.before"
expect_error "resume into another model" "is a resnet20, not a resnet44" \
    "${train[@]}" --net resnet44 --resume "$ckpt" --save "$ckpt" --epochs 2
cmp -s "$ckpt" "$work/ckpt.before" && pass || fail "checkpoint changed by a failed run"
expect_error "eval of a corrupt checkpoint" "text.h5" \
    "$BMST_DIST" eval --data "$data" --checkpoint "$work/text.h5"
expect_error "eval with a missing checkpoint" "gone.h5" \
    "$BMST_DIST" eval --data "$data" --checkpoint "$work/gone.h5"

finish bad_input
