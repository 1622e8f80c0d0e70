#!/bin/bash
# bmst_data end to end: small sources in each real format (idx gzipped and
# plain, CIFAR-10 batches + meta, CIFAR-100 with coarse labels, Flowers 102
# JPEGs + .mat files, miniImageNet JPEGs + split CSVs) convert to exactly the
# expected files, the same for any thread count; synthetic data is
# deterministic and learnable; every bad input ends with one "error:" line,
# no output, and exit code 1 (2 for a bad command line, as bmst_dist).
set -u
BMST_DATA=${BMST_DATA:?set BMST_DATA to the bmst_data executable}
PY=/usr/bin/python3 # the system Python, which has h5py and numpy
HELPER="$(dirname "$0")/converters.py"
WORK=$(mktemp -d /tmp/bmst_converters_XXXXXX)
trap 'rm -rf "$WORK"' EXIT
passed=0
failed=0

ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }

# expect_ok NAME CMD...: exit code 0
expect_ok() {
    local name=$1
    shift
    if "$@" >"$WORK/out.txt" 2>"$WORK/err.txt"; then ok; else
        bad "$name: exit $? ($(cat "$WORK/err.txt"))"
    fi
}

# expect_status NAME CODE OUT PATTERN CMD...: exit code CODE, one stderr line
# "bmst_data: error: ..." matching PATTERN, and neither OUT nor OUT.tmp.* left.
expect_status() {
    local name=$1 code=$2 out=$3 pattern=$4
    shift 4
    "$@" >"$WORK/out.txt" 2>"$WORK/err.txt"
    local rc=$? lines
    lines=$(wc -l <"$WORK/err.txt")
    if [ "$rc" -ne "$code" ]; then bad "$name: exit code $rc, expected $code"; else ok; fi
    if [ "$lines" -ne 1 ] || ! grep -q '^bmst_data: error: ' "$WORK/err.txt"; then
        bad "$name: stderr is not one error line: $(cat "$WORK/err.txt")"
    else ok; fi
    if ! grep -qE -- "$pattern" "$WORK/err.txt"; then
        bad "$name: message lacks '$pattern': $(cat "$WORK/err.txt")"
    else ok; fi
    if [ -n "$out" ] && compgen -G "$out*" >/dev/null; then
        bad "$name: output left behind: $(ls "$out"*)"
    else ok; fi
}

# a failure while running (exit 1), and a bad command line (exit 2)
expect_fail() { expect_status "$1" 1 "${@:2}"; }
expect_usage() { expect_status "$1" 2 "${@:2}"; }

SRC="$WORK/src"
$PY "$HELPER" make "$SRC" || { echo "FAIL: cannot make sources"; exit 1; }

# --- conversions, checked exactly -------------------------------------------
for kind in fashion-mnist cifar10 cifar100; do
    dir=$SRC/${kind%-mnist}
    expect_ok "convert $kind" "$BMST_DATA" convert "$kind" "$dir" "$WORK/$kind.h5"
    expect_ok "check $kind" $PY "$HELPER" check "$kind" "$SRC" "$WORK/$kind.h5"
    grep -q '^ok' "$WORK/out.txt" || bad "check $kind: $(cat "$WORK/out.txt")"
done
# the Python release (as Python 2 wrote it, torchvision's folder under DIR; and
# pickled again by Python 3 at protocols 2 and 5) gives the binary one's file
for variant in cifar10-py cifar10-py3-2 cifar10-py3-5 cifar100-py; do
    kind=${variant%%-*}
    expect_ok "convert $variant" "$BMST_DATA" convert "$kind" "$SRC/$variant" "$WORK/$variant.h5"
    expect_ok "same $variant" $PY "$HELPER" same "$WORK/$kind.h5" "$WORK/$variant.h5"
done
# --val-fraction: stratified, in order, the same on every run and thread count
expect_ok "val cifar100" "$BMST_DATA" convert cifar100 "$SRC/cifar100-py" "$WORK/c100v.h5" --val-fraction 0.3
expect_ok "check val cifar100" $PY "$HELPER" val "$WORK/cifar100.h5" "$WORK/c100v.h5" 0.3
expect_ok "val fashion" "$BMST_DATA" convert fashion-mnist "$SRC/fashion" "$WORK/fv.h5" --val-fraction 0.4
expect_ok "check val fashion" $PY "$HELPER" val "$WORK/fashion-mnist.h5" "$WORK/fv.h5" 0.4
expect_ok "val fashion again" "$BMST_DATA" convert fashion-mnist "$SRC/fashion" "$WORK/fv2.h5" --val-fraction 0.4
expect_ok "same val fashion" $PY "$HELPER" same "$WORK/fv.h5" "$WORK/fv2.h5"
expect_ok "info val" "$BMST_DATA" info "$WORK/fv.h5"
grep -q '^val: *[1-9]' "$WORK/out.txt" && ok || bad "info shows no val count: $(cat "$WORK/out.txt")"
expect_ok "info" "$BMST_DATA" info "$WORK/cifar10.h5"
grep -q '^shape: *32x32x3' "$WORK/out.txt" && grep -q '^train: *17$' "$WORK/out.txt" &&
    grep -q '^test: *6$' "$WORK/out.txt" && grep -q '^classes: *10$' "$WORK/out.txt" &&
    grep -q '^names: *c10_0, c10_1' "$WORK/out.txt" && ok || bad "info output: $(cat "$WORK/out.txt")"
expect_ok "help" "$BMST_DATA" --help
grep -q 'usage: bmst_data' "$WORK/out.txt" && grep -q -- '--test-per-class N' "$WORK/out.txt" &&
    ok || bad "help text"

# --- JPEG sources: pixels against PIL's decode of the same files -------------
FL=(--size 16)
MI=(--size 12 --test-per-class 2)
expect_ok "convert flowers102" "$BMST_DATA" convert flowers102 "$SRC/flowers" "$WORK/fl.h5" "${FL[@]}"
expect_ok "check flowers102" $PY "$HELPER" check flowers102 "$SRC" "$WORK/fl.h5"
grep -q '^ok' "$WORK/out.txt" || bad "check flowers102: $(cat "$WORK/out.txt")"
expect_ok "convert flowers102 swapped" "$BMST_DATA" convert flowers102 "$SRC/flowers" \
    "$WORK/fl_sw.h5" --split swapped "${FL[@]}" --threads 1
expect_ok "check flowers102 swapped" $PY "$HELPER" check flowers102 "$SRC" "$WORK/fl_sw.h5" --swapped
grep -q '^ok' "$WORK/out.txt" || bad "check flowers102 swapped: $(cat "$WORK/out.txt")"
expect_ok "convert flowers102 official val" "$BMST_DATA" convert flowers102 "$SRC/flowers" \
    "$WORK/fl_val.h5" --official-val "${FL[@]}"
expect_ok "check flowers102 official val" $PY "$HELPER" check flowers102 "$SRC" "$WORK/fl_val.h5" --official-val
grep -q '^ok' "$WORK/out.txt" || bad "check flowers102 official val: $(cat "$WORK/out.txt")"
expect_ok "convert miniimagenet" "$BMST_DATA" convert miniimagenet "$SRC/mini" "$WORK/mi.h5" \
    --threads 1 "${MI[@]}"
expect_ok "check miniimagenet" $PY "$HELPER" check miniimagenet "$SRC" "$WORK/mi.h5"
grep -q '^ok' "$WORK/out.txt" || bad "check miniimagenet: $(cat "$WORK/out.txt")"
# the same files for any thread count
expect_ok "flowers102 3 threads" "$BMST_DATA" convert flowers102 "$SRC/flowers" "$WORK/fl3.h5" \
    "${FL[@]}" --threads 3
expect_ok "miniimagenet 3 threads" "$BMST_DATA" convert miniimagenet "$SRC/mini" "$WORK/mi3.h5" \
    "${MI[@]}" --threads 3
expect_ok "same flowers102" $PY "$HELPER" same "$WORK/fl.h5" "$WORK/fl3.h5"
expect_ok "same miniimagenet" $PY "$HELPER" same "$WORK/mi.h5" "$WORK/mi3.h5"
expect_ok "miniimagenet val, 1 thread" "$BMST_DATA" convert miniimagenet "$SRC/mini" "$WORK/miv1.h5" \
    "${MI[@]}" --threads 1 --val-fraction 0.5
expect_ok "miniimagenet val, 3 threads" "$BMST_DATA" convert miniimagenet "$SRC/mini" "$WORK/miv3.h5" \
    "${MI[@]}" --threads 3 --val-fraction 0.5
expect_ok "check val miniimagenet" $PY "$HELPER" val "$WORK/mi.h5" "$WORK/miv1.h5" 0.5
expect_ok "same val miniimagenet" $PY "$HELPER" same "$WORK/miv1.h5" "$WORK/miv3.h5"

# image folders: ImageFolder's classes, order and labels; JPEG and PNG (RGB,
# RGBA, L, LA, palette with transparency) as PIL's convert("RGB"); the same for
# any thread count; one tree split by --test-fraction
FO=$SRC/folder
expect_ok "folder, 1 thread" "$BMST_DATA" convert folder "$FO/split" "$WORK/fo1.h5" --size 8 --threads 1
expect_ok "check folder" $PY "$HELPER" check-folder "$FO/split" "$WORK/fo1.h5" 8
grep -q '^ok folder (2[0-9] images compared exactly)' "$WORK/out.txt" || bad "check folder: $(cat "$WORK/out.txt")"
expect_ok "folder, 3 threads" "$BMST_DATA" convert folder "$FO/split" "$WORK/fo3.h5" --size 8 --threads 3
expect_ok "same folder" $PY "$HELPER" same "$WORK/fo1.h5" "$WORK/fo3.h5"
expect_ok "folder tree" "$BMST_DATA" convert folder "$FO/tree" "$WORK/ft.h5" --size 8 --test-fraction 0.5 --threads 1
expect_ok "check folder tree" $PY "$HELPER" check-folder "$FO/tree" "$WORK/ft.h5" 8 --test-fraction 0.5
expect_ok "folder tree, 3 threads" "$BMST_DATA" convert folder "$FO/tree" "$WORK/ft3.h5" --size 8 --test-fraction 0.5 --threads 3
expect_ok "same folder tree" $PY "$HELPER" same "$WORK/ft.h5" "$WORK/ft3.h5"
expect_ok "folder skip a BMP" "$BMST_DATA" convert folder "$FO/bmp" "$WORK/fb.h5" --size 8 --test-fraction 0.5 --skip-bad
grep -q '^skipped 1 images' "$WORK/out.txt" && ok || bad "no count of the skipped BMP: $(cat "$WORK/out.txt")"

# --- synthetic data ----------------------------------------------------------
synth() { "$BMST_DATA" synth --shape 8x6x2 --classes 5 --train 200 --test 50 "$@"; }
expect_ok "synth a" synth --seed 3 "$WORK/synth_a.h5"
expect_ok "synth b" synth "$WORK/synth_b.h5" --seed 3
expect_ok "synth c" synth --seed 4 "$WORK/synth_c.h5"
expect_ok "synth check" $PY "$HELPER" synth "$WORK/synth_a.h5" "$WORK/synth_b.h5" "$WORK/synth_c.h5"
grep -q '^ok' "$WORK/out.txt" || bad "synth: $(cat "$WORK/out.txt")"

# --- bad sources -------------------------------------------------------------
BAD="$WORK/bad"
fresh() { rm -rf "$BAD"; cp -r "$SRC/$1" "$BAD"; }
OUT="$WORK/bad.h5"

fresh fashion # drop the last byte of the (plain) test pixels
truncate -s -1 "$BAD/t10k-images-idx3-ubyte"
expect_fail "truncated idx" "$OUT" "t10k-images-idx3-ubyte: truncated" \
    "$BMST_DATA" convert fashion-mnist "$BAD" "$OUT"

fresh fashion # cut the gzip stream short
gz="$BAD/train-labels-idx1-ubyte.gz"
head -c $(($(stat -c %s "$gz") - 12)) "$gz" >"$gz.cut" && mv "$gz.cut" "$gz"
expect_fail "truncated gzip" "$OUT" "train-labels-idx1-ubyte.gz" \
    "$BMST_DATA" convert fashion-mnist "$BAD" "$OUT"

fresh fashion # images magic on the labels file
printf '\x00\x00\x08\x03' | dd of="$BAD/t10k-labels-idx1-ubyte" conv=notrunc status=none
expect_fail "wrong idx magic" "$OUT" "bad idx magic 0x00000803 \(expected 0x00000801\)" \
    "$BMST_DATA" convert fashion-mnist "$BAD" "$OUT"

fresh fashion
rm "$BAD/t10k-labels-idx1-ubyte"
expect_fail "missing idx file" "$OUT" "missing t10k-labels-idx1-ubyte\[.gz\]" \
    "$BMST_DATA" convert fashion-mnist "$BAD" "$OUT"

fresh cifar10
printf 'x' >>"$BAD/data_batch_3.bin"
expect_fail "cifar10 size" "$OUT" "data_batch_3.bin: size 9220 is not a positive multiple of the 3073-byte record" \
    "$BMST_DATA" convert cifar10 "$BAD" "$OUT"

fresh cifar10
printf '\x0a' | dd of="$BAD/test_batch.bin" bs=1 seek=3073 conv=notrunc status=none
expect_fail "cifar10 label" "$OUT" "test_batch.bin: record 1 has label 10" \
    "$BMST_DATA" convert cifar10 "$BAD" "$OUT"

fresh cifar10
head -n 5 "$SRC/cifar10/batches.meta.txt" >"$BAD/batches.meta.txt"
expect_fail "cifar10 names" "$OUT" "has 5 class names, expected 10" \
    "$BMST_DATA" convert cifar10 "$BAD" "$OUT"

fresh cifar100
truncate -s -100 "$BAD/test.bin"
expect_fail "cifar100 size" "$OUT" "test.bin: size .* 3074-byte record" \
    "$BMST_DATA" convert cifar100 "$BAD" "$OUT"

fresh cifar100
printf '\x14' | dd of="$BAD/train.bin" conv=notrunc status=none
expect_fail "cifar100 coarse" "$OUT" "record 0 has coarse label 20" \
    "$BMST_DATA" convert cifar100 "$BAD" "$OUT"

expect_fail "cifar10 neither release" "$OUT" \
    "holds neither cifar10 release: the binary one \(data_batch_1.bin, .*\) nor the Python one \(data_batch_1, .*torchvision" \
    "$BMST_DATA" convert cifar10 "$SRC/fashion" "$OUT"

expect_fail "val fraction empties a split" "$OUT" "--val-fraction 0.01 leaves none of the 23 training samples in /val" \
    "$BMST_DATA" convert fashion-mnist "$SRC/fashion" "$OUT" --val-fraction 0.01
expect_usage "val fraction out of range" "$OUT" "--val-fraction: '1' is not a number between 0 and 1" \
    "$BMST_DATA" convert fashion-mnist "$SRC/fashion" "$OUT" --val-fraction 1

expect_usage "official val swapped" "$OUT" "--official-val keeps the official lists apart: it goes with --split standard" \
    "$BMST_DATA" convert flowers102 "$SRC/flowers" "$OUT" --official-val --split swapped
expect_usage "official val of cifar10" "$OUT" "convert cifar10: --official-val does not apply" \
    "$BMST_DATA" convert cifar10 "$SRC/cifar10" "$OUT" --official-val

expect_fail "folder BMP" "$OUT" "bmp/b/pic.bmp: only JPEG and PNG images are read \(--skip-bad leaves others out\)" \
    "$BMST_DATA" convert folder "$SRC/folder/bmp" "$OUT" --size 8 --test-fraction 0.5
expect_fail "folder without --size" "$OUT" "convert folder needs --size S" \
    "$BMST_DATA" convert folder "$SRC/folder/split" "$OUT"
expect_fail "folder tree without --test-fraction" "$OUT" "tree has no train/ and test/ folders: give --test-fraction F" \
    "$BMST_DATA" convert folder "$SRC/folder/tree" "$OUT" --size 8
expect_fail "folder split with --test-fraction" "$OUT" "split has train/ and test/: --test-fraction is for a single tree" \
    "$BMST_DATA" convert folder "$SRC/folder/split" "$OUT" --size 8 --test-fraction 0.2
fresh folder/split
mkdir "$BAD/test/zebra" && cp "$SRC/folder/split/test/a/only.jpg" "$BAD/test/zebra/"
expect_fail "folder test class not in train" "$OUT" "class 'zebra' is not among the training classes" \
    "$BMST_DATA" convert folder "$BAD" "$OUT" --size 8
fresh folder/split
mkdir "$BAD/train/empty"
expect_fail "folder empty class" "$OUT" "train/empty: no JPEG or PNG image in the class folder" \
    "$BMST_DATA" convert folder "$BAD" "$OUT" --size 8
fresh folder/split
printf 'not a png' > "$BAD/train/a/gray.png"
expect_fail "folder bad image" "$OUT" "gray.png: corrupt PNG \(Not a PNG file\)" \
    "$BMST_DATA" convert folder "$BAD" "$OUT" --size 8
fresh folder/split
head -c 100 "$SRC/folder/split/train/a/gray.png" > "$BAD/train/a/gray.png"
expect_fail "folder truncated PNG" "$OUT" "gray.png: corrupt PNG" \
    "$BMST_DATA" convert folder "$BAD" "$OUT" --size 8

# the Python release: a cut pickle, a label out of range, a missing key, and a
# pickle that would run a command if Python unpickled it: refused, not run
PYB=cifar10-py/cifar-10-batches-py
fresh $PYB
truncate -s -5000 "$BAD/data_batch_2"
expect_fail "pickle truncated" "$OUT" "data_batch_2: not a readable pickle at byte [0-9]+: a length runs past the end" \
    "$BMST_DATA" convert cifar10 "$BAD" "$OUT"
fresh $PYB
$PY - "$BAD/test_batch" <<'PYEOF'
import pickle, sys
d = pickle.load(open(sys.argv[1], "rb"), encoding="bytes")
d[b"labels"][2] = 10
pickle.dump(d, open(sys.argv[1], "wb"), protocol=2)
PYEOF
expect_fail "pickle label" "$OUT" "test_batch: 'labels'\[2\] is not a label 0..9" \
    "$BMST_DATA" convert cifar10 "$BAD" "$OUT"
fresh $PYB
$PY - "$BAD/batches.meta" <<'PYEOF'
import pickle, sys
pickle.dump({b"num_vis": 3072}, open(sys.argv[1], "wb"), protocol=2)
PYEOF
expect_fail "pickle names" "$OUT" "batches.meta: no list 'label_names' of 10 class names" \
    "$BMST_DATA" convert cifar10 "$BAD" "$OUT"
fresh $PYB
$PY - "$BAD/data_batch_1" "$WORK/ran" <<'PYEOF'
import os, pickle, sys
class Command:
    def __reduce__(self):
        return (os.system, ("touch " + sys.argv[2],))
d = pickle.load(open(sys.argv[1], "rb"), encoding="bytes")
d[b"data"] = Command()
pickle.dump(d, open(sys.argv[1], "wb"), protocol=2)
PYEOF
expect_fail "pickle that calls a command" "$OUT" "data_batch_1: 'data' is not a numpy array" \
    "$BMST_DATA" convert cifar10 "$BAD" "$OUT"
[ -e "$WORK/ran" ] && bad "the pickle's command ran" || ok

# Flowers 102: .mat files, splits, image files
DEF=$SRC/defects
conv_fl() { "$BMST_DATA" convert flowers102 "$BAD" "$OUT" "${FL[@]}" "$@"; }
fresh flowers
rm "$BAD/imagelabels.mat"
expect_fail "flowers missing .mat" "$OUT" "$BAD/imagelabels.mat: No such file or directory" conv_fl
fresh flowers
cp "$DEF/setid_no_valid.mat" "$BAD/setid.mat"
expect_fail "flowers missing variable" "$OUT" "setid.mat: has no variable 'valid' \(it has trnid, tstid\)" conv_fl
fresh flowers
head -c 200 "$SRC/flowers/imagelabels.mat" >"$BAD/imagelabels.mat"
expect_fail "flowers truncated .mat" "$OUT" "imagelabels.mat: truncated: the element at byte 128 ends at byte [0-9]+, the file has 200 bytes" conv_fl
fresh flowers
cp "$DEF/not_jpeg.jpg" "$BAD/setid.mat"
expect_fail "flowers not a .mat" "$OUT" "setid.mat: not a MATLAB .mat file" conv_fl
fresh flowers
cp "$DEF/labels_103.mat" "$BAD/imagelabels.mat"
expect_fail "flowers label range" "$OUT" "imagelabels.mat: labels\(5\) = 103 is not a whole number in 1..102" conv_fl
fresh flowers
cp "$DEF/setid_range.mat" "$BAD/setid.mat"
expect_fail "flowers id range" "$OUT" "setid.mat: tstid\(2\) = 15 is not a whole number in 1..14" conv_fl
fresh flowers
cp "$DEF/setid_fraction.mat" "$BAD/setid.mat"
expect_fail "flowers id fraction" "$OUT" "setid.mat: valid\(2\) = 2.5 is not a whole number" conv_fl
fresh flowers
cp "$DEF/setid_overlap.mat" "$BAD/setid.mat"
expect_fail "flowers overlap" "$OUT" "setid.mat: image 7 is in both trnid and tstid" conv_fl
fresh flowers
cp "$DEF/setid_twice.mat" "$BAD/setid.mat"
expect_fail "flowers listed twice" "$OUT" "setid.mat: image 1 is listed twice in trnid" conv_fl
fresh flowers
rm "$BAD/jpg/image_00007.jpg"
expect_fail "flowers missing image" "$OUT" "jpg/image_00007.jpg: No such file or directory" conv_fl
fresh flowers
cp "$DEF/not_jpeg.jpg" "$BAD/jpg/image_00010.jpg"
expect_fail "not a JPEG" "$OUT" "image_00010.jpg: corrupt JPEG: Not a JPEG file" conv_fl
fresh flowers
truncate -s -40 "$BAD/jpg/image_00005.jpg"
expect_fail "truncated JPEG" "$OUT" "image_00005.jpg: corrupt JPEG: Premature end of JPEG file" conv_fl
fresh flowers
cp "$DEF/damaged.jpg" "$BAD/jpg/image_00004.jpg"
expect_fail "damaged JPEG" "$OUT" "image_00004.jpg: corrupt JPEG: Corrupt JPEG data" conv_fl
fresh flowers
cp "$DEF/cmyk.jpg" "$BAD/jpg/image_00013.jpg"
expect_fail "CMYK JPEG" "$OUT" "image_00013.jpg: CMYK JPEG is not supported" conv_fl
# several bad images: the first in job order is named, for any thread count
fresh flowers
cp "$DEF/not_jpeg.jpg" "$BAD/jpg/image_00012.jpg"
cp "$DEF/damaged.jpg" "$BAD/jpg/image_00002.jpg"
rm "$BAD/jpg/image_00008.jpg"
for t in 1 3; do
    expect_fail "first bad image, $t threads" "$OUT" "image_00002.jpg: corrupt JPEG" conv_fl --threads $t
done
# --skip-bad leaves out exactly those three, keeps the order, and says so
conv_fl --skip-bad --threads 3 >"$WORK/out.txt" 2>"$WORK/err.txt" && ok || bad "skip-bad: $(cat "$WORK/err.txt")"
grep -q '^skipped 3 images that could not be read or decoded' "$WORK/out.txt" && ok ||
    bad "skip-bad count: $(cat "$WORK/out.txt")"
[ "$(grep -c '^bmst_data: warning: skipped .*image_000' "$WORK/err.txt")" -eq 3 ] && ok ||
    bad "skip-bad warnings: $(cat "$WORK/err.txt")"
expect_ok "check skip-bad" $PY "$HELPER" check flowers102 "$SRC" "$OUT" \
    --skip image_00012.jpg,image_00002.jpg,image_00008.jpg
grep -q '^ok' "$WORK/out.txt" || bad "check skip-bad: $(cat "$WORK/out.txt")"
rm -f "$OUT"

# miniImageNet: split files
conv_mi() { "$BMST_DATA" convert miniimagenet "$BAD" "$OUT" "${MI[@]}" "$@"; }
fresh mini
rm "$BAD/val.csv"
expect_fail "mini missing csv" "$OUT" "$BAD/val.csv: No such file or directory" conv_mi
fresh mini
sed -i '1s/.*/file,label/' "$BAD/test.csv"
expect_fail "mini header" "$OUT" "test.csv:1: header is 'file,label', expected 'filename,label'" conv_mi
fresh mini
echo "extra.jpg,cat" >>"$BAD/val.csv"
expect_fail "mini label" "$OUT" "val.csv:8: label 'cat' is not a WordNet id" conv_mi
fresh mini
sed -n 3p "$BAD/train.csv" >>"$BAD/test.csv"
expect_fail "mini listed twice" "$OUT" "is listed twice \(train.csv line 3 and test.csv line 9\)" conv_mi
fresh mini
expect_fail "mini test-per-class" "$OUT" "class n01532829 has 4 images; --test-per-class 100 leaves none" \
    "$BMST_DATA" convert miniimagenet "$BAD" "$OUT" --size 12
fresh mini
rm "$BAD/images/$(sed -n 2p "$BAD/val.csv" | cut -d, -f1)"
expect_fail "mini missing image" "$OUT" "images/n04596742[0-9]{8}.jpg: No such file or directory" conv_mi

# options that do not apply, or bad values
expect_usage "option for cifar10" "$OUT" "convert cifar10: --size does not apply" \
    "$BMST_DATA" convert cifar10 "$SRC/cifar10" "$OUT" --size 32
expect_usage "split for miniimagenet" "$OUT" "convert miniimagenet: --split does not apply" \
    "$BMST_DATA" convert miniimagenet "$SRC/mini" "$OUT" --split swapped
expect_usage "test-per-class for flowers" "$OUT" "convert flowers102: --test-per-class does not apply" \
    "$BMST_DATA" convert flowers102 "$SRC/flowers" "$OUT" --test-per-class 3
expect_usage "bad split" "$OUT" "--split: 'random' is not 'standard' or 'swapped'" \
    "$BMST_DATA" convert flowers102 "$SRC/flowers" "$OUT" --split random
expect_usage "bad size" "$OUT" "--size: '0' is not a number in 1..4096" \
    "$BMST_DATA" convert flowers102 "$SRC/flowers" "$OUT" --size 0
expect_usage "bad threads" "$OUT" "--threads: 'x' is not a number" \
    "$BMST_DATA" convert flowers102 "$SRC/flowers" "$OUT" --threads x
expect_usage "unknown option" "$OUT" "convert: unknown option '--sizes'" \
    "$BMST_DATA" convert flowers102 "$SRC/flowers" "$OUT" --sizes 3
expect_usage "missing value" "$OUT" "convert: --size needs a value" \
    "$BMST_DATA" convert flowers102 "$SRC/flowers" "$OUT" --size
expect_usage "option for a value" "$OUT" "convert: --size needs a value" \
    "$BMST_DATA" convert flowers102 "$SRC/flowers" "$OUT" --size --threads 2

expect_fail "missing directory" "$OUT" "$WORK/nowhere: No such file or directory" \
    "$BMST_DATA" convert cifar10 "$WORK/nowhere" "$OUT"
expect_fail "unwritable output" "$WORK/nodir/out.h5" "nodir/out.h5" \
    "$BMST_DATA" convert cifar10 "$SRC/cifar10" "$WORK/nodir/out.h5"
expect_usage "unknown kind" "$OUT" "unknown source kind 'mnist3'" \
    "$BMST_DATA" convert mnist3 "$SRC/cifar10" "$OUT"
expect_usage "no command" "" "missing command" "$BMST_DATA"
expect_usage "bad shape" "$OUT" "--shape: '8x6' is not HxWxC" \
    "$BMST_DATA" synth --shape 8x6 --classes 5 --train 10 --test 10 "$OUT"
expect_usage "bad count" "$OUT" "--train: 'ten' is not a number" \
    "$BMST_DATA" synth --shape 8x6x1 --classes 5 --train ten --test 10 "$OUT"
expect_usage "synth incomplete" "$OUT" "synth needs" \
    "$BMST_DATA" synth --shape 8x6x1 --classes 5 "$OUT"

# --- bad dataset files -------------------------------------------------------
echo "not hdf5" >"$WORK/text.h5"
expect_fail "non-HDF5 file" "" "text.h5: not an HDF5 file" "$BMST_DATA" info "$WORK/text.h5"
head -c 20000 "$WORK/cifar10.h5" >"$WORK/truncated.h5"
expect_fail "truncated HDF5" "" "truncated.h5: cannot open: truncated or corrupt HDF5 file" \
    "$BMST_DATA" info "$WORK/truncated.h5"
mkdir "$WORK/h5bad"
expect_ok "make bad HDF5" $PY "$HELPER" bad-hdf5 "$WORK/cifar10.h5" "$WORK/h5bad"
expect_fail "float images" "" "float_images.h5: /train/images must be uint8 of rank 4" \
    "$BMST_DATA" info "$WORK/h5bad/float_images.h5"
expect_fail "rank-3 images" "" "rank3_images.h5: /test/images must be uint8 of rank 4" \
    "$BMST_DATA" info "$WORK/h5bad/rank3_images.h5"
expect_fail "int64 labels" "" "int64_labels.h5: /train/labels must be int32 of rank 1" \
    "$BMST_DATA" info "$WORK/h5bad/int64_labels.h5"
expect_fail "missing attribute" "" "no_mean.h5: missing attribute 'mean'" \
    "$BMST_DATA" info "$WORK/h5bad/no_mean.h5"
expect_fail "val of another shape" "" "val_shape.h5: val images are 16x32x3 but train images are 32x32x3" \
    "$BMST_DATA" info "$WORK/h5bad/val_shape.h5"
expect_fail "val label" "" "val_label.h5: /val/labels\[[0-9]+\] = 1[0-9] is outside \[0, 10\)" \
    "$BMST_DATA" info "$WORK/h5bad/val_label.h5"
expect_ok "h5py-written copy" "$BMST_DATA" info "$WORK/h5bad/copy_ok.h5"

echo "test_converters: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
