#!/usr/bin/env bash
# The GPU benchmark: the GPU test suite (the CUDA backend against the CPU
# oracle: every op, whole resnet18 steps in fp32, fp16 and bf16, with and
# without the CUDA graph), then the seed project's table: for each case
# (network and input shape) bmst_dist in fp32, fp16, BMST (--merge 2 --mix-at
# c2) and BMST-fp16 at batch 128 on synthetic data, and beside it the
# device's PyTorch on the same network and batch (fp32 with TF32 off, eager
# AMP with channels_last, torch.compile), timed the same way.
#
#   bench/gpu_table.sh [--bin RUN] [--cases "resnet18:32x32x3 ..."]
#                      [--pytorch "fp32 amp compile"] [--steps N] [--warmup N]
#                      [--budget SECONDS] [--out DIR]
#
# --bin: the `run` of an unpacked bundle (launch/bundle.sh), whose programs
# are used as they are; without it the tree is built here for sm_90 (needs the
# build's dependencies). --budget: runs that would start after that many
# seconds are listed as not run, so the whole call ends in time.
#
# Writes to DIR (default bench/results/gpu-DATE), line by line as it goes, so
# that a call cut off still leaves what it measured: results.md (device,
# driver, date, commit, command, the suite's status, the table), suite.log,
# ours.log and pytorch.log (every run's full output). A failed GPU suite, or
# one that skipped where a GPU must be, makes the exit status 1.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
steps=50 warmup=10 bin="" out="" budget=0
cases="resnet18:32x32x3 resnet50:32x32x3 resnet101:32x32x3 resnet152:32x32x3"
pytorch_modes="fp32 amp compile"
while (($#)); do
    case $1 in
    --bin) bin=$2; shift 2 ;;
    --cases) cases=$2; shift 2 ;;
    --pytorch) pytorch_modes=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --budget) budget=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "gpu_table.sh: error: unknown option '$1'" >&2; exit 2 ;;
    esac
done
out=${out:-$root/bench/results/gpu-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$out"
python=${PYTHON:-python3}
started=$SECONDS

if [[ -z $bin ]]; then
    build=$root/build-gpu
    echo "== building for sm_90 into $build" >&2
    BUILD_DIR=$build "$root/launch/build.sh" -DBMST_REQUIRE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
        > "$out/build.log" 2>&1 || { tail -30 "$out/build.log"; exit 1; }
    dist=("$build/bmst_dist") suite_test=("$build/tests/test_gpu_backend")
else
    dist=("$bin" bmst_dist) suite_test=("$bin" test_gpu_backend)
fi

# seconds left of the budget, at least 1 (timeout 0 would mean none); a large
# number without a budget
left() {
    ((budget > 0)) || { echo 100000; return; }
    local l=$((budget - (SECONDS - started)))
    echo $((l > 1 ? l : 1))
}
field() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" "$2" | tail -1; }
calc() { "$python" -c "print(f'{$1:.2f}')"; }
results=$out/results.md

{
    echo "# GPU: bmst_dist and PyTorch, synthetic data, batch 128"
    echo
    echo "- device: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2> /dev/null | head -1)"
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- commit: $(git -C "$root" rev-parse --short HEAD 2> /dev/null || echo "not a git checkout")"
    [[ -n $bin ]] && echo "- bundle: $(sed -n 's/^commit: //p' "$(dirname "$bin")/BUILD_INFO")"
    echo "- torch: $("$python" -c 'import torch; print(torch.__version__, "cuDNN", torch.backends.cudnn.version())' 2> /dev/null)"
    echo "- command: bench/gpu_table.sh --cases \"$cases\" --pytorch \"$pytorch_modes\" --steps $steps --warmup $warmup --budget $budget"
    echo "- $steps timed steps after $warmup untimed; s/epoch = 50,000 / images per second"
} > "$results"

echo "== the GPU suite" >&2
BMST_GPU_REQUIRED=1 timeout -k 5 "$(left)" "${suite_test[@]}" > "$out/suite.log" 2>&1
suite=$?
case $suite in
0) verdict="passed" ;;
124 | 137) verdict="cut off by the time budget" ;;
*) verdict="FAILED (exit $suite)" ;;
esac
{
    echo "- GPU test suite (test_gpu_backend, a skip counts as a failure): $verdict; $(grep -c '^  ' "$out/suite.log") comparisons, $(grep -c '^FAIL' "$out/suite.log") failures (suite.log)"
    echo
    echo "| model | input | mode | s/epoch | img/s | vs our fp32 | planned MiB | device used MiB |"
    echo "|---|---|---|---|---|---|---|---|"
} >> "$results"

# One row of the table.
row() { echo "| $1 | $2 | $3 | $4 | $5 | $6 | $7 | $8 |" >> "$results"; }
for case in $cases; do
    net=${case%%:*} shape=${case#*:}
    base=""
    for mode in fp32 fp16 bmst bmst-fp16; do
        args=(--device cuda --net "$net" --shape "$shape" --classes 10 --batch 128
            --steps "$steps" --warmup "$warmup")
        [[ $mode == *fp16 ]] && args+=(--precision fp16)
        # inceptionv3 merges at c3, as the BMST project's c3mixt_inceptionv3
        [[ $mode == bmst* ]] && args+=(--merge 2 --mix-at "$([[ $net == inceptionv3 ]] && echo c3 || echo c2)")
        if (($(left) < 30)); then row "$net" "$shape" "ours $mode" "not run: time budget" "" "" "" ""; continue; fi
        echo "== ours $net $shape $mode" >&2
        log=$(mktemp)
        timeout -k 5 "$(left)" "${dist[@]}" bench "${args[@]}" > "$log" 2>&1
        status=$?
        { echo "== ours $net $shape $mode: bmst_dist bench ${args[*]} (exit $status)"; cat "$log"; } >> "$out/ours.log"
        ips=$(field images_per_s "$log")
        if ((status != 0)) || [[ -z $ips ]]; then
            row "$net" "$shape" "ours $mode" "failed (exit $status): ours.log" "" "" "" ""
        else
            [[ -z $base ]] && base=$ips
            row "$net" "$shape" "ours $mode" "$(calc "50000 / $ips")" "$ips" "$(calc "$ips / $base")" \
                "$(field planned_mib "$log")" "$(field device_used_mib "$log")"
        fi
        rm -f "$log"
    done
    for mode in $pytorch_modes; do
        if (($(left) < 40)); then row "$net" "$shape" "PyTorch $mode" "not run: time budget" "" "" "" ""; continue; fi
        echo "== pytorch $net $shape $mode" >&2
        log=$(mktemp)
        timeout -k 5 "$(left)" "$python" "$root/bench/pytorch_gpu.py" --net "$net" --shape "$shape" \
            --batch 128 --mode "$mode" --steps "$steps" --warmup "$warmup" > "$log" 2>&1
        status=$?
        { echo "== pytorch $net $shape $mode (exit $status)"; cat "$log"; } >> "$out/pytorch.log"
        ips=$(field images_per_s "$log")
        if ((status != 0)) || [[ -z $ips ]]; then
            row "$net" "$shape" "PyTorch $mode" "failed (exit $status): pytorch.log" "" "" "" ""
        else
            row "$net" "$shape" "PyTorch $mode" "$(calc "50000 / $ips")" "$ips" \
                "$([[ -n $base ]] && calc "$ips / $base")" \
                "max allocated $(field max_allocated_mib "$log")" "$(field device_used_mib "$log")"
        fi
        rm -f "$log"
    done
done
echo "- wall time of the call: $((SECONDS - started)) s" >> "$results"
cat "$results"
[[ $suite -eq 0 ]]
