#!/usr/bin/env bash
# The model zoo's networks from the command line: `info` counts parameters as
# torchvision does (DenseNet-121/161, Wide ResNet-50-2 at 1000 classes) and
# ResNet-164 as an independent count; every family lists its mix points; the
# seed's cNmixt_ names mean their base network, mix point and a merge of 2,
# and checkpoints record the base network, so resume and eval take them; an
# input a network cannot take is one line from info and train; and the ReLU
# codec trains ResNet-164 and DenseNet-121 bit for bit as plain does.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3 # the system Python, with torch and torchvision
HERE=$(dirname "$0")

params() { # params ARGS...: the trainable parameter count info prints
    "$BMST_DIST" info --device cpu --batch 2 "$@" 2>&1 |
        sed -n -E 's/^parameters: ([0-9]+) trainable.*/\1/p'
}

# --- parameter counts --------------------------------------------------------
for net in densenet121 densenet161 wide_resnet50_2; do
    ours=$(params --net "$net" --shape 224x224x3 --classes 1000)
    theirs=$($PY -c "import torchvision; m = torchvision.models.$net(); \
print(sum(p.numel() for p in m.parameters()))")
    [[ -n $ours && $ours == "$theirs" ]] && pass ||
        fail "$net: info counts '$ours' parameters, torchvision $theirs"
done
# ResNet-164 at 10 classes: the independent PyTorch model's count, and the
# paper's 1.7M
ours=$(params --net resnet164 --shape 32x32x3 --classes 10)
theirs=$(cd "$HERE/../parity" && $PY -c "from torch_preact import PreActResNet; \
m = PreActResNet('resnet164', (32, 32, 3), 10); print(sum(p.numel() for p in m.parameters()))")
[[ -n $ours && $ours == "$theirs" && $ours -gt 1650000 && $ours -lt 1750000 ]] && pass ||
    fail "resnet164: info counts '$ours' parameters, the PyTorch model $theirs (paper: 1.7M)"

# --- mix points, per family ----------------------------------------------------
for want in "resnet18:ResNet mix points: c2 (after the stem) c3 (before layer2) c4 (before layer3) c5 (before layer4)" \
    "resnet20:CIFAR ResNet mix points: c2 (after the stem) c3 (before layer2) c4 (before layer3)" \
    "resnet164:pre-activation ResNet mix points: c2 (after the stem conv) c3 (before layer2) c4 (before layer3)" \
    "wide_resnet50_2:Wide ResNet mix points: c2 " \
    "densenet121:DenseNet mix points: c2 (after the stem, before denseblock1) c3 (after transition1, before denseblock2)"; do
    net=${want%%:*}
    "$BMST_DIST" info --device cpu --batch 2 --shape 16x16x3 --net "$net" > "$work/info.log" 2>&1
    grep -q -F "${want#*:}" "$work/info.log" && pass ||
        fail "$net: info lacks '${want#*:}': $(grep 'mix points' "$work/info.log")"
done
expect_usage "a mix point resnet164 lacks" \
    "^bmst_dist: error: resnet164 has no stage c5 to merge before \(its mix points: c2 c3 c4\)$" \
    "$BMST_DIST" info --device cpu --net resnet164 --mix-at c5

# --- the seed's names ----------------------------------------------------------
first_line() { "$BMST_DIST" info --device cpu --batch 8 --shape 16x16x3 "$@" 2>&1 | head -1; }
for case in "c3mixt_resnet50||resnet50 .* merge 2 at c3" \
    "c2mixt_resnet152||resnet152 .* merge 2 at c2" \
    "c3mixt_resnet18|--merge 4|resnet18 .* merge 4 at c3" \
    "c3mixt_resnet18|--merge 1|resnet18 .* merge 1 at c3" \
    "c3mixt_resnet34|--mix-at c3|resnet34 .* merge 2 at c3"; do
    IFS='|' read -r net extra want <<< "$case"
    line=$(first_line --net "$net" $extra)
    [[ $line =~ $want ]] && pass || fail "--net $net $extra: '$line', want /$want/"
done
expect_usage "a mix point against the seed name" \
    "^bmst_dist: error: --net c3mixt_resnet50 merges at c3; --mix-at c2 contradicts it$" \
    "$BMST_DIST" info --device cpu --net c3mixt_resnet50 --mix-at c2
expect_usage "a seed name that does not exist" "unknown model 'c4mixt_resnet18'" \
    "$BMST_DIST" info --device cpu --net c4mixt_resnet18

data="$work/synth.h5"
"$BMST_DATA" synth --shape 8x8x3 --classes 4 --train 32 --test 16 "$data" > /dev/null ||
    { echo "cannot make the test dataset" >&2; exit 1; }
train=("$BMST_DIST" train --device cpu --data "$data" --batch 8 --threads 2 --seed 3 --lr 0.05)
"${train[@]}" --net c2mixt_resnet18 --epochs 1 --save "$work/seed.h5" > "$work/seed.log" 2>&1 ||
    fail "train --net c2mixt_resnet18: $(tail -2 "$work/seed.log")"
recorded=$($PY -c "import h5py; a = h5py.File('$work/seed.h5', 'r').attrs; \
print(a['arch'].decode() if isinstance(a['arch'], bytes) else a['arch'], int(a['merge']))")
[[ $recorded == "resnet18 2" ]] && pass || fail "the checkpoint records '$recorded', want 'resnet18 2'"
"${train[@]}" --net c2mixt_resnet18 --epochs 2 --resume "$work/seed.h5" --save "$work/seed2.h5" \
    > "$work/resume.log" 2>&1 && pass || fail "resume with the seed name: $(tail -2 "$work/resume.log")"
"${train[@]}" --net resnet18 --merge 2 --epochs 2 --resume "$work/seed.h5" \
    --save "$work/base2.h5" > "$work/resume.log" 2>&1 && pass ||
    fail "resume with the base name: $(tail -2 "$work/resume.log")"
h5diff -q "$work/seed2.h5" "$work/base2.h5" && pass ||
    fail "the seed name and its base network resumed differently"
"$BMST_DIST" eval --device cpu --data "$data" --checkpoint "$work/seed2.h5" > "$work/eval.log" 2>&1 &&
    pass || fail "eval of the seed name's checkpoint: $(tail -2 "$work/eval.log")"

# --- inputs a network cannot take ---------------------------------------------
expect_error "densenet121 at 7x7 (info)" \
    "^bmst_dist: error: densenet121 cannot take a 7x7 input: three transitions after the CIFAR stem need at least 8 px a side$" \
    "$BMST_DIST" info --device cpu --net densenet121 --shape 7x7x3
"$BMST_DATA" synth --shape 7x7x3 --classes 4 --train 16 --test 8 "$work/small.h5" > /dev/null ||
    { echo "cannot make the small dataset" >&2; exit 1; }
expect_error "densenet161 at 7x7 (train)" "^bmst_dist: error: densenet161 cannot take a 7x7 input" \
    "$BMST_DIST" train --device cpu --data "$work/small.h5" --net densenet161 --batch 8
expect_error "densenet121 at 100x20 (the ImageNet stem)" \
    "densenet121 cannot take a 100x20 input: three transitions after the ImageNet stem need at least 29 px" \
    "$BMST_DIST" info --device cpu --net densenet121 --shape 100x20x3

# --- the ReLU codec: the same bits as plain ------------------------------------
for net in resnet164 densenet121; do
    codec_run=("${train[@]}" --net "$net" --merge 2 --epochs 1)
    "${codec_run[@]}" --save "$work/plain-$net.h5" > "$work/plain.log" 2>&1 ||
        fail "$net plain: $(tail -2 "$work/plain.log")"
    "${codec_run[@]}" --act-codec relu-mask --save "$work/mask-$net.h5" > "$work/mask.log" 2>&1 ||
        fail "$net relu-mask: $(tail -2 "$work/mask.log")"
    same_but_codec "$work/plain-$net.h5" "$work/mask-$net.h5" && pass ||
        fail "$net: the relu-mask run's checkpoint differs from the plain run's"
done
finish zoo
