#!/usr/bin/env bash
# The scaling benchmark: the same training run on 1, 2 and 4 ranks (mpirun),
# weak scaling (batch per rank fixed) and strong scaling (global batch fixed),
# from each run's JSON report: global images/s, efficiency against one rank,
# and the all-reduce's share of a step (waited for, and hidden behind
# backward). Writes raw logs, reports and results.md under
# bench/results/scaling-DATE/.
#   bench/scaling.sh [--net NAME] [--shape HxWxC] [--batch N] [--steps N]
#                    [--ranks "1 2 4"] [--device cpu|cuda] [--grad-comm fp32|fp16|bf16]
# --batch is the per-rank batch of the weak runs and the global batch of the
# strong ones. On the CPU, ranks share the machine's cores: each gets
# cores / ranks OpenMP threads (at least 1, with --oversubscribe beyond the
# core count), so more ranks than cores cannot scale and the table says so.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
net=resnet20 shape=32x32x3 batch=32 steps=20 ranks="1 2 4" device=cpu grad_comm=fp32
while (($#)); do
    case $1 in
        --net) net=$2; shift 2 ;;
        --shape) shape=$2; shift 2 ;;
        --batch) batch=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        --ranks) ranks=$2; shift 2 ;;
        --device) device=$2; shift 2 ;;
        --grad-comm) grad_comm=$2; shift 2 ;;
        *) echo "scaling.sh: error: unknown option '$1'" >&2; exit 2 ;;
    esac
done
bin=${BMST_DIST:-$root/build/bmst_dist}
data_bin=${BMST_DATA:-$root/build/bmst_data}
[[ -x $bin && -x $data_bin ]] || { echo "scaling.sh: error: build first (launch/build.sh)" >&2; exit 1; }
out=$root/bench/results/scaling-$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$out"
cores=$(nproc)
max_ranks=$(tr ' ' '\n' <<<"$ranks" | sort -n | tail -1)
# enough samples for the largest global batch to run every step once
"$data_bin" synth --shape "$shape" --classes 10 --train $((batch * max_ranks * (steps + 1))) \
    --test 64 --seed 1 "$out/data.h5" >/dev/null
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

run() { # NAME RANKS BATCH_PER_RANK
    local name=$1 n=$2 b=$3 threads=$((cores / $2))
    ((threads >= 1)) || threads=1
    echo "== $name: $n ranks x batch $b, $threads threads each" >&2
    OMP_NUM_THREADS=$threads timeout 600 mpirun --oversubscribe --bind-to none -np "$n" \
        -x OMP_NUM_THREADS "$bin" train --data "$out/data.h5" --net "$net" --device "$device" \
        --batch "$b" --epochs 1 --max-steps "$steps" --augment off --grad-comm "$grad_comm" \
        --threads "$threads" --report "$out/$name.json" >"$out/$name.log" 2>&1
}

for n in $ranks; do
    run "weak-$n" "$n" "$batch"
    if ((batch % n == 0)); then run "strong-$n" "$n" $((batch / n)); fi
done

/usr/bin/python3 - "$out" "$ranks" <<'EOF' >"$out/table.md"
import json, os, sys
out, ranks = sys.argv[1], [int(r) for r in sys.argv[2].split()]
print("| scaling | ranks | batch per rank | global batch | images/s | speedup | efficiency | step ms | all-reduce waited | all-reduce hidden |")
print("|---|---|---|---|---|---|---|---|---|---|")
for kind in ("weak", "strong"):
    base = None
    for n in ranks:
        path = os.path.join(out, f"{kind}-{n}.json")
        if not os.path.exists(path):
            continue
        r = json.load(open(path))
        e = r["epochs"][-1]
        s = e["summary"]
        ips = e["images_per_s"]
        base = base or ips
        step_ms = 1e3 * s["epoch_s"]["max"] / e["steps"]
        waited = s["allreduce_s"]["mean"] / s["epoch_s"]["mean"]
        hidden = s["allreduce_hidden_s"]["mean"] / s["epoch_s"]["mean"]
        print(f"| {kind} | {n} | {r['batch_per_rank']} | {r['global_batch']} | {ips:.1f} | "
              f"{ips / base:.2f} | {ips / (n * base):.2f} | {step_ms:.1f} | {100 * waited:.1f}% | {100 * hidden:.1f}% |")
EOF
{
    echo "# Scaling: $net $shape on $device, $grad_comm gradients"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "- machine: $(lscpu | sed -n 's/^Model name: *//p'), $cores cores"
    echo "- command: bench/scaling.sh --net $net --shape $shape --batch $batch --steps $steps --ranks \"$ranks\" --device $device --grad-comm $grad_comm"
    echo "- $steps training steps per run, synthetic data; speedup = images/s / one rank's images/s;"
    echo "  efficiency = speedup / ranks (on one CPU the ranks share its cores: there the speedup is the measure)"
    echo "- all-reduce waited: time after backward spent waiting for the gradients, as a share of the epoch;"
    echo "  hidden: time the all-reduce already ran while backward computed"
    echo
    cat "$out/table.md"
} >"$out/results.md"
rm -f "$out/table.md" "$out/data.h5"
cat "$out/results.md"
