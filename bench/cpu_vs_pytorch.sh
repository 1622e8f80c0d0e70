#!/usr/bin/env bash
# The CPU benchmark: bmst_dist against Debian's PyTorch on the same model, input
# shape, batch and thread count, run side by side (alternating) in one session.
# Writes raw logs and a results table under bench/results/cpu-DATE/.
#   bench/cpu_vs_pytorch.sh [--steps N] [--warmup N] [--threads N] [--nets "NET ..."]
# --nets runs only those models' rows (all by default).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
steps=20 warmup=3 threads=2 nets=""
while (($#)); do
    case $1 in
        --steps) steps=$2; shift 2 ;;
        --warmup) warmup=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --nets) nets=$2; shift 2 ;;
        *) echo "cpu_vs_pytorch.sh: error: unknown option '$1'" >&2; exit 2 ;;
    esac
done
bin=${BMST_DIST:-$root/build/bmst_dist}
[[ -x $bin ]] || { echo "cpu_vs_pytorch.sh: error: build first (launch/build.sh); no $bin" >&2; exit 1; }
out=$root/bench/results/cpu-$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$out"
export OMP_NUM_THREADS=$threads

# model shape classes [mix point of the merge-2 row: c2 by default]
configs=("resnet20 28x28x1 10" "resnet18 32x32x3 10" "densenet121 32x32x3 10")
configs+=("inceptionv3 32x32x3 10 c3") # c3: the BMST project's c3mixt_inceptionv3
{
    echo "# CPU: bmst_dist vs PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)')"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "- machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; threads $threads"
    echo "- command: bench/cpu_vs_pytorch.sh --steps $steps --warmup $warmup --threads $threads${nets:+ --nets \"$nets\"}"
    echo "- batch 64; $steps timed training steps after $warmup untimed; synthetic inputs; merge 2 at c2 (inceptionv3: c3)"
    echo
    echo "| model | input | merge | ours img/s | PyTorch img/s | ratio | ours peak RSS MiB | PyTorch peak RSS MiB | ratio | ours planned MiB | conv GFLOP/s | gemm GFLOP/s |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
} > "$out/results.md"

field() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" "$2" | tail -1; }
for config in "${configs[@]}"; do
    read -r net shape classes mix <<< "$config"
    [[ -z $nets || " $nets " == *" $net "* ]] || continue
    for merge in 1 2; do
        tag=$net-$shape-m$merge
        args=(--net "$net" --shape "$shape" --classes "$classes" --batch 64 --merge "$merge"
              --mix-at "${mix:-c2}" --steps "$steps" --warmup "$warmup" --threads "$threads")
        echo "== $tag" >&2
        "$bin" bench --device cpu "${args[@]}" > "$out/ours-$tag.log" 2>&1
        /usr/bin/python3 "$root/bench/pytorch_cpu.py" "${args[@]}" > "$out/pytorch-$tag.log" 2>&1
        ours=$(field images_per_s "$out/ours-$tag.log")
        theirs=$(field images_per_s "$out/pytorch-$tag.log")
        ours_rss=$(field peak_rss_mib "$out/ours-$tag.log")
        theirs_rss=$(field peak_rss_mib "$out/pytorch-$tag.log")
        ratio=$(/usr/bin/python3 -c "print(f'{$ours/$theirs:.2f}')")
        rss_ratio=$(/usr/bin/python3 -c "print(f'{$ours_rss/$theirs_rss:.2f}')")
        echo "| $net | $shape | $merge | $ours | $theirs | $ratio | $ours_rss | $theirs_rss | $rss_ratio | $(field planned_mib "$out/ours-$tag.log") | $(field conv_gflops "$out/ours-$tag.log") | $(field gemm_gflops "$out/ours-$tag.log") |" >> "$out/results.md"
    done
done
cat "$out/results.md"
