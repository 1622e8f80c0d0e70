#!/bin/bash
# FLOPs and MFU: `info`'s FLOPs per training image (forward and backward)
# against an independent count from the layers' shapes (flops_count.py, on
# torchvision's ResNets and a CIFAR ResNet written there; needs
# /usr/bin/python3 with torch and torchvision), for both stems, bottlenecks,
# one input channel and a BMST merge; then a training run's TFLOP/s and MFU
# in the CSV against its images/s, the FLOPs and the peak it printed.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
COUNT="$(dirname "$0")/flops_count.py"

# within the rounding of info's four significant digits
close() {
    $PY -c "
import math, sys
a, b = float(sys.argv[1]), float(sys.argv[2])
sys.exit(abs(a - b) > 0.5 * 10 ** (math.floor(math.log10(b)) - 3) * 1.001)" "$1" "$2"
}

for case in "resnet18 224 224 3 10 4 1" "resnet50 96 96 3 100 2 1" "resnet18 32 32 3 10 4 2" \
    "resnet20 28 28 1 10 8 4" "resnet44 32 32 3 10 2 1"; do
    read -r arch h w c classes batch merge <<< "$case"
    line=$("$BMST_DIST" info --net "$arch" --shape "${h}x${w}x$c" --classes "$classes" \
        --batch "$batch" --merge "$merge" 2>&1 | grep "^FLOPs per image")
    fwd=$(sed -n 's/.*(forward \([0-9.e+-]*\), backward.*/\1/p' <<< "$line")
    bwd=$(sed -n 's/.*, backward \([0-9.e+-]*\)).*/\1/p' <<< "$line")
    read -r want_fwd want_bwd <<< "$($PY "$COUNT" "$arch" "$h" "$w" "$c" "$classes" "$batch" "$merge")"
    if [[ -n $fwd && -n $want_fwd ]] && close "$fwd" "$want_fwd" && close "$bwd" "$want_bwd"; then
        pass
    else
        fail "$case: info says forward $fwd, backward $bwd GFLOP; counted $want_fwd, $want_bwd"
    fi
done

# --- a run's TFLOP/s and MFU: the CSV against the FLOPs and peak it printed --
# ResNet-20 on 32x32 images spends most of its time in the direct kernels of
# 16 to 64 channels, which (with AVX-512) outrun OpenBLAS's sgemm: a peak
# that misses them puts the MFU over 100% (115% on Zen 5 with a 512^3 sgemm
# peak). It must stay at or under 100%.
"$BMST_DATA" synth --shape 32x32x3 --classes 10 --train 256 --test 64 --seed 1 "$work/d.h5" \
    > /dev/null || { echo "cannot make the dataset"; exit 1; }
"$BMST_DIST" train --data "$work/d.h5" --device cpu --threads 1 --epochs 2 --batch 64 \
    --csv "$work/m.csv" > "$work/m.log" 2>&1 || fail "the run: $(tail -2 "$work/m.log")"
$PY - "$work/m.log" "$work/m.csv" << 'PY' && pass || fail "TFLOP/s and MFU: $(grep -i flop "$work/m.log")"
import csv, re, sys
text = open(sys.argv[1]).read()
m = re.search(r"^([0-9.e+-]+) GFLOP per training image; peak ([0-9.e+-]+) TFLOP/s per rank in fp32 "
              r"\(measured\)$", text, re.M)
assert m, text
image, peak = float(m.group(1)) * 1e9, float(m.group(2)) * 1e12
for row in csv.DictReader(line for line in open(sys.argv[2]) if not line.startswith("#")):
    tflops, mfu = float(row["tflops_per_second"]), float(row["mfu"])
    want = image * float(row["images_per_second"]) / 1e12
    assert abs(tflops - want) <= 2e-3 * want, (tflops, want)  # images/s has 4-5 digits in the CSV
    assert abs(mfu - tflops * 1e12 / peak) <= 2e-3 * mfu, (mfu, tflops, peak)
    assert 0 < mfu <= 1.0, f"MFU {mfu:.3f} over 1 ({tflops} TFLOP/s against a peak of {peak / 1e12})"
assert re.search(r"TFLOP/s \(MFU [0-9.]+%\)", text), text
PY

finish "flops"
