#!/usr/bin/env bash
# The GPU benchmark, in one call on the device machine: builds for sm_90, runs
# the GPU test suite (the CUDA backend against the CPU oracle), then the seed
# project's CIFAR-10 table: resnet18/50/101/152 x fp32, fp16, BMST (c2, merge
# 2), BMST-fp16 at batch 128 on CIFAR-shaped synthetic data (seconds per
# 50,000-image epoch, speed-up against our fp32, planned and device-used MiB),
# and beside it the device's PyTorch on the same models and batch (fp32,
# eager AMP + channels_last, torch.compile), timed the same way.
# Writes every raw log, results.md and a results file under bench/results/.
#   bench/gpu_table.sh [--steps N] [--warmup N] [--models "resnet18 resnet50"]
#                      [--no-compile] [--out DIR]
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
steps=50 warmup=10 models="resnet18 resnet50 resnet101 resnet152" compile=1 out=""
while (($#)); do
    case $1 in
        --steps) steps=$2; shift 2 ;;
        --warmup) warmup=$2; shift 2 ;;
        --models) models=$2; shift 2 ;;
        --no-compile) compile=0; shift ;;
        --out) out=$2; shift 2 ;;
        *) echo "gpu_table.sh: error: unknown option '$1'" >&2; exit 2 ;;
    esac
done
out=${out:-$root/bench/results/gpu-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$out"
python=${PYTHON:-python3}

build=$root/build-gpu
BUILD_DIR=$build "$root/launch/build.sh" -DCMAKE_CUDA_ARCHITECTURES=90 > "$out/build.log" 2>&1 ||
    { tail -30 "$out/build.log"; exit 1; }
(cd "$build" && ctest -L gpu --output-on-failure) > "$out/gpu_tests.log" 2>&1
tests_status=$?
grep -q "Skipped\|SKIP" "$out/gpu_tests.log" && tests_status=77

field() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" "$2" | tail -1; }
epoch_s() { "$python" -c "print(f'{50000 / $1:.2f}')"; }
ratio() { "$python" -c "print(f'{$1 / $2:.2f}')"; }
{
    echo "# GPU: bmst_dist and PyTorch, CIFAR-shaped synthetic data, batch 128"
    echo
    echo "- device: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)"
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "- torch: $("$python" -c 'import torch; print(torch.__version__)' 2>/dev/null)"
    echo "- command: bench/gpu_table.sh --steps $steps --warmup $warmup --models \"$models\""
    echo "- GPU test suite (ctest -L gpu): exit $tests_status (0 pass, 77 skipped), log gpu_tests.log"
    echo "- $steps timed steps after $warmup untimed; s/epoch = 50,000 / images per second"
    echo
    echo "| model | mode | s/epoch | img/s | vs our fp32 | planned MiB | device used MiB |"
    echo "|---|---|---|---|---|---|---|"
} > "$out/results.md"

for net in $models; do
    base=""
    for mode in fp32 fp16 bmst bmst-fp16; do
        args=(--device cuda --net "$net" --shape 32x32x3 --classes 10 --batch 128
              --steps "$steps" --warmup "$warmup")
        [[ $mode == *fp16 ]] && args+=(--precision fp16)
        [[ $mode == bmst* ]] && args+=(--merge 2 --mix-at c2)
        log=$out/ours-$net-$mode.log
        echo "== ours $net $mode" >&2
        "$build/bmst_dist" bench "${args[@]}" > "$log" 2>&1 || { echo "| $net | ours $mode | failed: see $(basename "$log") | | | | |" >> "$out/results.md"; continue; }
        ips=$(field images_per_s "$log")
        [[ -z $base ]] && base=$ips
        echo "| $net | ours $mode | $(epoch_s "$ips") | $ips | $(ratio "$ips" "$base") | $(field planned_mib "$log") | $(field device_used_mib "$log") |" >> "$out/results.md"
    done
    modes="fp32 amp"
    ((compile)) && modes="$modes compile"
    for mode in $modes; do
        log=$out/pytorch-$net-$mode.log
        echo "== pytorch $net $mode" >&2
        "$python" "$root/bench/pytorch_gpu.py" --net "$net" --batch 128 --mode "$mode" \
            --steps "$steps" --warmup "$warmup" > "$log" 2>&1 ||
            { echo "| $net | PyTorch $mode | failed: see $(basename "$log") | | | | |" >> "$out/results.md"; continue; }
        ips=$(field images_per_s "$log")
        echo "| $net | PyTorch $mode | $(epoch_s "$ips") | $ips | $(ratio "$ips" "${base:-$ips}") | max allocated $(field max_allocated_mib "$log") | $(field device_used_mib "$log") |" >> "$out/results.md"
    done
done
cat "$out/results.md"
