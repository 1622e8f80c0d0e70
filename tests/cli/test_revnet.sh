#!/usr/bin/env bash
# The RevNets (models/revnet.c, ops/reversible.c): a reversible stage's
# planned activation memory does not grow with its depth, every invertible
# unit's input rebuilt in backward matches its forward input (fp32, fp16,
# bf16 bounds), and revnet38 trains with --merge 2, fp16 and bf16 and
# resumes bitwise.
source "$(dirname "$0")/lib.sh"

# "training arena: X MiB" of `info` for a net
arena() {
    "$BMST_DIST" info --device cpu --net "$1" --batch 16 | sed -n 's/.*training arena: \([0-9.]*\) MiB.*/\1/p'
}
r38=$(arena revnet38) r110=$(arena revnet110) s20=$(arena resnet20) s110=$(arena resnet110)
# the stage widths differ only in the last stage (112 vs 128), where the arena does not peak
if [[ -n $r38 && $r38 == "$r110" ]]; then pass; else
    fail "revnet38's training arena ($r38 MiB) differs from revnet110's ($r110 MiB)"
fi
# the comparison can tell: a plain ResNet's arena grows with depth
if awk -v a="$s20" -v b="$s110" 'BEGIN { exit !(b > 3 * a) }'; then pass; else
    fail "resnet110's arena ($s110 MiB) not well above resnet20's ($s20 MiB)"
fi

# --check-reconstruction: the worst relative error of the rebuilt inputs
check() { # PRECISION BOUND
    local line
    line=$("$BMST_DIST" bench --device cpu --threads 2 --net revnet38 --shape 16x16x3 --batch 8 \
        --steps 1 --warmup 0 --precision "$1" --check-reconstruction 2>&1 | grep '^reconstruction:')
    local units err
    units=$(sed -n 's/.*units_rebuilt=\([0-9]*\).*/\1/p' <<<"$line")
    err=$(sed -n 's/.*worst_relative_error=\([^ ]*\).*/\1/p' <<<"$line")
    # revnet38: 9 units, of which the three stage-opening ones keep their input
    if [[ $units == 6 ]] && awk -v e="$err" -v b="$2" 'BEGIN { exit !(e + 0 == e && e < b) }'; then
        pass
    else
        fail "$1 reconstruction: '$line' (want 6 units, error below $2)"
    fi
}
check fp32 1e-5
check fp16 1e-2
check bf16 5e-2
expect_error "--check-reconstruction without reversible units" "resnet20 has no reversible units" \
    "$BMST_DIST" bench --device cpu --net resnet20 --shape 8x8x3 --batch 4 --check-reconstruction

data="$work/synth.h5"
"$BMST_DATA" synth --shape 8x8x3 --classes 4 --train 128 --test 32 "$data" > /dev/null ||
    { echo "cannot make the test dataset" >&2; exit 1; }
train=("$BMST_DIST" train --device cpu --data "$data" --net revnet38 --batch 16 --threads 2
       --seed 3 --lr 0.05 --schedule constant --augment off)
for extra in "--merge 2" "--precision fp16" "--precision bf16 --merge 2"; do
    # shellcheck disable=SC2086
    if "${train[@]}" --epochs 1 --max-steps 3 $extra > "$work/x.log" 2>&1 &&
        ! grep -qi "nan" "$work/x.log"; then pass; else
        fail "revnet38 $extra: $(tail -2 "$work/x.log")"
    fi
done

# 1 epoch + resume for 1 more == 2 epochs straight, weights and momentum bitwise
"${train[@]}" --merge 2 --epochs 2 --save "$work/a.h5" > "$work/a.log" 2>&1 ||
    fail "straight run: $(tail -2 "$work/a.log")"
"${train[@]}" --merge 2 --epochs 1 --save "$work/r.h5" > /dev/null 2>&1 || fail "first half"
"${train[@]}" --merge 2 --epochs 2 --resume "$work/r.h5" --save "$work/r.h5" > "$work/r.log" 2>&1 ||
    fail "resumed half: $(tail -2 "$work/r.log")"
h5diff -q "$work/a.h5" "$work/r.h5" /model /model && pass || fail "resumed weights differ"
h5diff -q "$work/a.h5" "$work/r.h5" /optimizer /optimizer && pass || fail "resumed momentum differs"
# and the comparison can tell: one epoch is not two
"${train[@]}" --merge 2 --epochs 1 --save "$work/one.h5" > /dev/null 2>&1 || fail "one epoch"
h5diff -q "$work/a.h5" "$work/one.h5" /model /model > /dev/null 2>&1 && fail "1 epoch == 2 epochs" ||
    pass

finish test_revnet
