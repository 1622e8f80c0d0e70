#!/usr/bin/env bash
# A full disk, made with a small tmpfs: every writer (bmst_data's dataset,
# train's checkpoint, CSV and report) ends with one line saying "No space
# left on device" and exit status 1, never a signal (HDF5 1.10 used to die
# with SIGSEGV in its exit-time cleanup, see datasets/h5_memfile.h), the file
# it would have replaced is left whole, and no temporary file is left behind.
# The checkpoint is tried at many fill levels, since where the space runs out
# decides which call fails.
#
# Mounting needs root: the test exits 77 (CTest: skipped) where it cannot
# mount, unless BMST_TMPFS_REQUIRED=1 (CI sets it) makes that a failure.
source "$(dirname "$0")/../cli/lib.sh"

skip() {
    echo "disk_full: skipped: $*"
    [[ "${BMST_TMPFS_REQUIRED:-0}" == 1 ]] && exit 1
    exit 77
}
[[ $(id -u) -eq 0 ]] || skip "mounting a tmpfs needs root; this test runs as $(id -un)"
full="$work/full"
mkdir "$full" && mount -t tmpfs -o size=3m,mode=0755 tmpfs "$full" ||
    skip "cannot mount a tmpfs at $full (a container without CAP_SYS_ADMIN?)"
trap 'umount "$full"; rm -rf "$work"' EXIT
cd "$work" || exit 1

# fill LEFT_KB: the tmpfs holds only what is there plus a filler leaving
# LEFT_KB free
fill() {
    rm -f "$full/filler"
    local free_kb
    free_kb=$(df -k --output=avail "$full" | tail -1)
    ((free_kb > $1)) && head -c $(((free_kb - $1) * 1024)) /dev/zero > "$full/filler"
    return 0
}
# only: the tmpfs holds exactly these files (besides the filler)
only() {
    local have
    have=$(cd "$full" && ls -A | grep -v '^filler$' | tr '\n' ' ')
    [[ "$have" == "$*" ]] && pass || fail "$name: the tmpfs holds '$have', not '$*'"
}
nospace="No space left on device"
# fails_with NAME PATTERN CMD...: CMD exits with status 1 (not by a signal),
# and of what it prints on stderr (training shows its progress there) exactly
# one line is an error, the last, and it matches PATTERN
fails_with() {
    local name=$1 pattern=$2
    shift 2
    local status=0
    "$@" > "$work/stdout" 2> "$work/stderr" || status=$?
    local errors last
    errors=$(grep -c 'error' "$work/stderr")
    last=$(tail -1 "$work/stderr")
    if [[ $status -ge 128 ]]; then
        fail "$name: killed by signal $((status - 128)): $(tail -c 600 "$work/stderr")"
    elif [[ $status -ne 1 ]]; then
        fail "$name: exit status $status, not 1: $(tail -c 600 "$work/stderr")"
    elif [[ $errors -ne 1 ]] || ! grep -q -E -e ": error: $pattern" <<< "$last"; then
        fail "$name: expected one error line matching /$pattern/, last: $(tail -c 600 "$work/stderr")"
    else
        pass
    fi
}

# bmst_data: a dataset that does not fit (12 MB)
name="dataset"
fails_with "$name" "cannot write the dataset $full/big.h5: $nospace" \
    "$BMST_DATA" synth --shape 32x32x3 --classes 10 --train 4000 --test 100 "$full/big.h5"
only ""
# ... nor over an earlier one, which stays whole
"$BMST_DATA" synth --shape 8x8x1 --classes 2 --train 16 --test 8 "$full/d.h5" > /dev/null ||
    fail "a small dataset on the tmpfs"
cp "$full/d.h5" before.h5
name="dataset over an earlier one"
fails_with "$name" "cannot write the dataset $full/d.h5: $nospace" \
    "$BMST_DATA" synth --shape 32x32x3 --classes 10 --train 4000 --test 100 "$full/d.h5"
cmp -s "$full/d.h5" before.h5 && pass || fail "$name: the earlier dataset changed"
only "d.h5 "
rm -f "$full/d.h5"

"$BMST_DATA" synth --shape 8x8x1 --classes 2 --train 16 --test 8 data.h5 > /dev/null ||
    { echo "cannot make the test dataset" >&2; exit 1; }
train=("$BMST_DIST" train --device cpu --net resnet20 --data data.h5 --batch 8 --max-steps 1
       --threads 1)

# the checkpoint (2.2 MB): the first epoch's fits, the second's does not
name="checkpoint"
fails_with "$name" "cannot write the checkpoint $full/ck.h5: $nospace" \
    "${train[@]}" --epochs 2 --save "$full/ck.h5"
only "ck.h5 "
"$BMST_DIST" eval --data data.h5 --checkpoint "$full/ck.h5" > eval.log 2>&1 &&
    grep -q "epoch 1)" eval.log && pass || fail "$name: the first epoch's checkpoint: $(cat eval.log)"
rm -f "$full/ck.h5"

# no room at many fill levels: HDF5 once failed in H5Dwrite, H5Dclose or
# H5Fclose depending on where the space ran out, and crashed at exit
for left_kb in 0 8 64 100 160 400 1024 2000; do
    name="checkpoint with $left_kb KB free"
    fill "$left_kb"
    fails_with "$name" "cannot write the checkpoint $full/ck.h5: $nospace" \
        "${train[@]}" --epochs 1 --save "$full/ck.h5"
    only ""
done

# the CSV: no room for its header; then no room for a row after a resume,
# the file a full page (4096 bytes) so the next row needs a new one
name="CSV"
fill 0
fails_with "$name" "cannot write the CSV file $full/x.csv: $nospace" \
    "${train[@]}" --epochs 1 --csv "$full/x.csv"
only ""
rm -f "$full/filler"
"${train[@]}" --epochs 1 --save r.h5 > /dev/null 2>&1 || fail "a checkpoint to resume"
/usr/bin/python3 -c "
import sys
header = 'epoch,train_loss\n'
sys.stdout.write(header + 'x' * (4096 - len(header) - 1) + '\n')" > "$full/x.csv"
cp "$full/x.csv" before.csv
fill 0
name="CSV row"
fails_with "$name" "cannot write the CSV file $full/x.csv: $nospace" \
    "${train[@]}" --epochs 2 --resume r.h5 --csv "$full/x.csv"
cmp -s "$full/x.csv" before.csv && pass || fail "$name: the CSV changed"
rm -f "$full/x.csv"

# the JSON report
name="report"
fill 0
fails_with "$name" "cannot write the report $full/r.json: $nospace" \
    "${train[@]}" --epochs 1 --report "$full/r.json"
only ""

finish disk_full
