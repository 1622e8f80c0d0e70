#!/usr/bin/env bash
# The prepared calls for a lent GPU machine (the device tool's `run`), each one
# command that needs nothing the machine lacks: the programs come from the
# bundle that launch/bundle.sh made here and `carry` brought there
# (.carry/bmst-bundle.tar.xz), PyTorch and the CUDA libraries are the machine's.
#
#   bash bench/gpu_call.sh 1   the GPU suite, then resnet18, resnet50 and
#                              densenet121 on 32x32x3 at batch 128: ours in fp32, fp16, BMST
#                              and BMST-fp16; PyTorch eager fp32 and eager AMP
#   bash bench/gpu_call.sh 2   the suite again, then resnet101, resnet152 (32 px)
#                              and resnet50 on 224x224x3, PyTorch also with
#                              torch.compile
#   bash bench/gpu_call.sh 3   the suite again, then inceptionv3 on 32x32x3
#                              (BMST at c3), PyTorch eager fp32 and eager AMP
#
# Everything lands in $OUT (the device tool's folder that comes back; else
# bench/results/gpu-DATE-callN): env.log (machine, driver, the bundle's
# BUILD_INFO and where each of its libraries resolved), results.md, suite.log,
# ours.log, pytorch.log. Each call stops starting runs after BUDGET seconds
# (default 420), so it ends within 8 minutes and what it measured comes back.
# bench/README.md gives the exact `run` arguments.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
call=${1:-}
case $call in
1) cases="resnet18:32x32x3 resnet50:32x32x3 densenet121:32x32x3" pytorch="fp32 amp" ;;
2) cases="resnet101:32x32x3 resnet152:32x32x3 resnet50:224x224x3" pytorch="fp32 amp compile" ;;
3) cases="inceptionv3:32x32x3" pytorch="fp32 amp" ;;
*) echo "usage: bench/gpu_call.sh 1|2|3" >&2; exit 2 ;;
esac
out=${OUT:-$root/bench/results/gpu-$(date -u +%Y%m%d-%H%M%S)-call$call}
budget=${BUDGET:-420}
mkdir -p "$out"

archive=$root/.carry/bmst-bundle.tar.xz
[[ -f $archive ]] || { echo "gpu_call.sh: no $archive: run launch/bundle.sh and carry .carry" >&2; exit 1; }
unpacked=$(mktemp -d)
tar -C "$unpacked" -xJf "$archive" || { echo "gpu_call.sh: cannot unpack $archive" >&2; exit 1; }
run=$unpacked/bmst-bundle/run

{
    echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) bench/gpu_call.sh $call"
    echo "== machine: $(uname -srm); $(nproc) cores; $(free -g 2> /dev/null | awk '/Mem:/ {print $2 " GiB"}')"
    nvidia-smi 2>&1
    echo "== python: $(command -v python3)"
    python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "nccl", torch.cuda.nccl.version(), "gpu", torch.cuda.get_device_name(0))' 2>&1
    echo "== the bundle"
    cat "$unpacked/bmst-bundle/BUILD_INFO"
    echo "== where its libraries resolve (run --libs)"
    "$run" --libs 2>&1
    echo "run --libs: exit $?"
} > "$out/env.log"

"$root/bench/gpu_table.sh" --bin "$run" --cases "$cases" --pytorch "$pytorch" --budget "$budget" \
    --out "$out"
status=$?
rm -rf "$unpacked"
exit $status
