#!/usr/bin/env bash
# The loader benchmark: images/s the loader delivers alone (bmst_loader_bench)
# for each dataset shape against the number of worker threads, with the
# training augmentation of that shape; then the data-wait share of a real
# training step (resnet18 on CIFAR-shaped data on the CPU), from the run's
# JSON report. Writes raw logs and results.md under bench/results/loader-DATE/.
#   bench/loader.sh [--workers "1 2 4"] [--steps N] [--threads N]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
workers="1 2" steps=8 threads=$(nproc)
while (($#)); do
    case $1 in
        --workers) workers=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        *) echo "loader.sh: error: unknown option '$1'" >&2; exit 2 ;;
    esac
done
build=${BUILD_DIR:-$root/build}
for tool in bmst_loader_bench bmst_data bmst_dist; do
    [[ -x $build/$tool ]] || { echo "loader.sh: error: build first (launch/build.sh); no $build/$tool" >&2; exit 1; }
done
out=$root/bench/results/loader-$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$out"

# shape classes train-samples augmentation: the seed datasets' shapes
configs=("28x28x1 10 12000 pad-crop" "32x32x3 100 12000 pad-crop" "64x64x3 102 3000 resized-crop"
         "84x84x3 100 3000 resized-crop")
{
    echo "# Loader throughput"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "- machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
    echo "- command: bench/loader.sh --workers \"$workers\" --steps $steps --threads $threads"
    echo "- synthetic datasets of each seed dataset's stored shape, batch 128, the split cached in memory;"
    echo "  the consumer takes batches as fast as they come, so this is the loader alone"
    echo
    echo "| shape | augmentation | workers | images/s |"
    echo "|---|---|---|---|"
} >"$out/results.md"
for config in "${configs[@]}"; do
    read -r shape classes train augment <<<"$config"
    "$build/bmst_data" synth --shape "$shape" --classes "$classes" --train "$train" --test 256 \
        "$out/$shape.h5" >/dev/null
    "$build/bmst_loader_bench" "$out/$shape.h5" --batch 128 --batches 150 --augment "$augment" \
        --workers "${workers// /,}" | tee -a "$out/loader.log" |
        sed -n 's/.*shape=\([^ ]*\).*workers=\([^ ]*\) images_per_s=\([^ ]*\).*/\1 \2 \3/p' |
        while read -r s w rate; do echo "| $s | $augment | $w | $rate |"; done >>"$out/results.md"
done

# the data wait inside training: resnet18 on CIFAR-shaped data, this CPU
"$build/bmst_dist" train --data "$out/32x32x3.h5" --net resnet18 --device cpu --batch 128 \
    --epochs 1 --max-steps "$steps" --threads "$threads" --report "$out/train.json" \
    >"$out/train.log" 2>&1
/usr/bin/python3 - "$out/train.json" >>"$out/results.md" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
e = r["epochs"][0]["ranks"][0]
print()
print(f"Training resnet18 on 32x32x3, batch 128, {r['epochs'][0]['steps']} steps on the CPU: "
      f"data wait {e['data_s']:.3f} s of {e['epoch_s']:.1f} s "
      f"({100 * e['data_s'] / e['epoch_s']:.2f}% of the step time), {e['images_per_s']:.1f} images/s.")
EOF
rm -f "$out"/*.h5
cat "$out/results.md"
