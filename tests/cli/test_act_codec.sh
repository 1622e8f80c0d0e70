#!/usr/bin/env bash
# --act-codec relu-mask end to end: training keeps ReLU outputs that only
# their ReLU reads again as 1-bit masks and ends bitwise where plain does (two
# epochs with BMST, in fp32 and in emulated fp16); `info` shows what is kept
# for backward and the training arena, plain and with the masks; a bad value
# is a one-line usage error.
source "$(dirname "$0")/lib.sh"

data="$work/synth.h5"
"$BMST_DATA" synth --shape 16x16x3 --classes 4 --train 256 --test 64 "$data" > /dev/null ||
    { echo "cannot make the test dataset" >&2; exit 1; }
train=("$BMST_DIST" train --device cpu --data "$data" --net resnet20 --batch 32 --merge 2
       --threads 2 --seed 7 --lr 0.05 --epochs 2)

for precision in fp32 fp16; do
    "${train[@]}" --precision $precision --save "$work/plain-$precision.h5" > /dev/null 2>&1 ||
        fail "plain $precision run"
    "${train[@]}" --precision $precision --act-codec relu-mask \
        --save "$work/mask-$precision.h5" > "$work/mask.log" 2>&1 ||
        fail "relu-mask $precision run: $(tail -3 "$work/mask.log")"
    same_but_codec "$work/plain-$precision.h5" "$work/mask-$precision.h5" && pass ||
        fail "$precision: the relu-mask run's checkpoint differs from the plain run's"
done

# the stem's ReLU feeds the merge alone and the last one the global pool:
# both become masks, 32x smaller, and the arena shrinks with them
"$BMST_DIST" info --device cpu --net resnet20 --shape 16x16x3 --batch 32 --merge 2 \
    --act-codec relu-mask > "$work/info.log" 2>&1 || fail "info: $(tail -3 "$work/info.log")"
line=$(grep "saved for backward (--act-codec relu-mask)" "$work/info.log")
read -r kept plain arena plain_arena < <(sed -E 's/.*: ([0-9.]+) MiB, plain ([0-9.]+) MiB; training arena ([0-9.]+) MiB, plain ([0-9.]+) MiB/\1 \2 \3 \4/' <<< "$line")
/usr/bin/python3 -c "import sys; sys.exit(not (float('$kept') < float('$plain') and float('$arena') < float('$plain_arena')))" 2>/dev/null &&
    pass || fail "info does not show the masks' saving: '$line'"
"$BMST_DIST" info --device cpu --net resnet20 --shape 16x16x3 --batch 32 --merge 2 \
    > "$work/plain.log" 2>&1 || fail "plain info"
grep -q "saved for backward (--act-codec plain): $plain MiB$" "$work/plain.log" && pass ||
    fail "plain info: '$(grep 'saved for backward' "$work/plain.log")', want $plain MiB"

expect_usage "an unknown codec" "--act-codec expects plain, relu-mask or division, got 'zip'" \
    "${train[@]}" --act-codec zip
expect_usage "eval --act-codec" "does not apply to eval" \
    "$BMST_DIST" eval --data "$data" --checkpoint "$work/plain-fp32.h5" --act-codec relu-mask
finish act_codec
