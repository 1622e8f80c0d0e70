#!/usr/bin/env bash
# The GPU bundle (launch/bundle.sh) on a machine that lacks everything the GPU
# machine lacks: a minimal Debian root (debootstrap --variant=minbase: no HDF5,
# OpenBLAS, Open MPI, libgomp, libjpeg or libmatio, no Python) that holds only
# what the GPU machine is known to have besides the C and C++ runtimes: the
# CUDA libraries, laid out as PyTorch's pip wheels lay them out
# (/opt/torch/.venv/lib/python3.12/site-packages/nvidia/<package>/lib, the
# versioned names only; bind-mounted from this machine's toolkit), and no
# NVIDIA driver or GPU. There the bundle must:
#  - resolve every library from the bundle, the wheels or the C/C++ runtimes
#    (`run --libs`, printed in full);
#  - make a dataset and train on it, saying that there is no GPU and falling
#    back to the CPU; refuse --device cuda with a one-line error;
#  - skip the GPU suite (exit 77), unless BMST_GPU_REQUIRED=1 says a GPU must be
#    there, which turns the skip into a failure.
#
# Needs root (debootstrap, chroot, bind mounts in a private mount namespace),
# debootstrap and a Debian mirror (the root is made once per build folder and
# kept), and the CUDA toolkit with cuDNN to build the bundle. Exit status 77
# (CTest: skipped), with the reason, where one is missing, unless
# BMST_BUNDLE_REQUIRED=1 (CI) turns that into a failure.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${BMST_BUNDLE_WORK:-$PWD/bundle-dry-run}
PATH=$PATH:/usr/sbin:/sbin

skip() {
    echo "bundle dry run: skipped: $*"
    [[ "${BMST_BUNDLE_REQUIRED:-0}" == 1 ]] && exit 1
    exit 77
}
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

[[ $(id -u) -eq 0 ]] || skip "debootstrap, chroot and mounts need root; this runs as $(id -un)"
for prog in debootstrap unshare chroot mount; do
    command -v "$prog" > /dev/null || skip "$prog not found (launch/install_deps.sh --tests installs it)"
done
command -v nvcc > /dev/null || [[ -x /usr/local/cuda/bin/nvcc ]] || skip "no CUDA toolkit to build the bundle"
mkdir -p "$work"

echo "== the bundle"
BUNDLE_BUILD_DIR=$work/build "$root/launch/bundle.sh" "$work/bmst-bundle.tar.xz" ||
    fail "launch/bundle.sh failed"

echo "== a minimal Debian root"
sysroot=$work/root
if [[ ! -f $sysroot/.complete ]]; then
    rm -rf "$sysroot"
    suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
    mirror=${BMST_DEBIAN_MIRROR:-http://deb.debian.org/debian}
    debootstrap --variant=minbase "$suite" "$sysroot" "$mirror" > "$work/debootstrap.log" 2>&1 ||
        skip "debootstrap $suite from $mirror failed (no network?): $(tail -1 "$work/debootstrap.log")"
    touch "$sysroot/.complete"
fi
# what makes the dry run mean something: none of the bundle's libraries is there
# (an earlier run's bundle and mount points are cleared first)
rm -rf "$sysroot/opt/bmst-bundle" "$sysroot/opt/torch"
for lib in libhdf5 libopenblas libmpi libgomp libjpeg libmatio libcurl; do
    found=$(find "$sysroot" -name "$lib*.so*" -print -quit)
    [[ -z $found ]] || fail "the minimal root already has $found"
done
[[ ! -e $sysroot/usr/bin/python3 ]] || fail "the minimal root has python3"

tar -C "$sysroot/opt" -xJf "$work/bmst-bundle.tar.xz" || fail "cannot unpack the bundle"

# The CUDA libraries the GPU machine has, where its pip wheels put them: the
# files the bundle's programs resolve here, bind-mounted read-only.
wheels=/opt/torch/.venv/lib/python3.12/site-packages/nvidia
mounts=()
while read -r name path; do
    case $name in
    libcudnn*) pkg=cudnn ;;
    libnccl*) pkg=nccl ;;
    *) pkg=cu13 ;;
    esac
    # cuDNN's sub-libraries (loaded when a handle is made) sit beside its shim
    files=("$path")
    [[ $pkg == cudnn ]] && files=("$(dirname "$path")"/libcudnn*.so.9)
    for f in "${files[@]}"; do
        target=$wheels/$pkg/lib/$(basename "$f")
        mkdir -p "$sysroot$(dirname "$target")"
        : > "$sysroot$target"
        mounts+=("$(readlink -f "$f")|$sysroot$target")
    done
done < <(ldd "$work/build/bmst_dist" | awk '$2 == "=>" && $1 ~ /^lib(cudart|cublas|cublasLt|cudnn|nccl)\.so/ {print $1, $3}')
((${#mounts[@]} >= 5)) || fail "expected the CUDA runtime, cuBLAS(Lt), cuDNN and NCCL; found ${#mounts[@]}"

# The checks, run inside the root by its own /bin/sh; each result on one line.
cat > "$sysroot/tmp/dry_run.sh" << 'EOF'
run=/opt/bmst-bundle/run
cd /tmp
rm -f s.h5
$run --libs > libs.txt 2>&1; echo "libs $?"
$run bmst_data synth --shape 8x8x3 --classes 4 --train 64 --test 32 s.h5 > synth.txt 2>&1; echo "synth $?"
$run bmst_dist train --data s.h5 --net resnet20 --epochs 1 --batch 16 > train.txt 2>&1; echo "train $?"
$run bmst_dist bench --device cuda --net resnet20 --shape 8x8x3 --batch 8 --steps 1 > cuda.txt 2>&1; echo "cuda $?"
$run test_gpu_backend > gpu.txt 2>&1; echo "gpu $?"
BMST_GPU_REQUIRED=1 $run test_gpu_backend > gpu_required.txt 2>&1; echo "gpu_required $?"
EOF

mount_script=""
for m in "${mounts[@]}"; do mount_script+="mount --bind -o ro '${m%%|*}' '${m##*|}' && "; done
echo "== in the minimal root (${#mounts[@]} CUDA libraries bind-mounted from this machine)"
results=$(unshare --mount --fork -- sh -c "mount --make-rprivate / && ${mount_script}
    mount -t proc proc '$sysroot/proc' && chroot '$sysroot' /bin/sh /tmp/dry_run.sh") ||
    fail "could not enter the minimal root: $results"
echo "$results"
status_of() { echo "$results" | awk -v k="$1" '$1 == k {print $2}'; }
show() { echo "-- $1:"; cat "$sysroot/tmp/$1"; }

show libs.txt
[[ $(status_of libs) == 0 ]] || fail "run --libs: a library is missing or comes from outside the bundle"
grep -q -E "libhdf5_serial.so.* /opt/bmst-bundle/lib/.* bundle$" "$sysroot/tmp/libs.txt" ||
    fail "HDF5 does not come from the bundle"
grep -q -E "libcudnn.so.9 +$wheels/cudnn/lib/libcudnn.so.9 +device$" "$sysroot/tmp/libs.txt" ||
    fail "cuDNN does not come from the wheels' folder"

[[ $(status_of synth) == 0 ]] || { show synth.txt; fail "bmst_data synth failed in the minimal root"; }
show train.txt
[[ $(status_of train) == 0 ]] || fail "training on the CPU failed in the minimal root"
grep -q "no GPU (.*); running on the CPU" "$sysroot/tmp/train.txt" || fail "no notice of the CPU fallback"
grep -q "^epoch 1" "$sysroot/tmp/train.txt" || fail "no epoch line"
show cuda.txt
[[ $(status_of cuda) != 0 ]] || fail "--device cuda without a GPU exited 0"
[[ $(wc -l < "$sysroot/tmp/cuda.txt") -eq 1 ]] &&
    grep -q "^bmst_dist: error: --device cuda: no NVIDIA driver: libcuda.so.1 not found$" \
        "$sysroot/tmp/cuda.txt" ||
    fail "--device cuda without a GPU: expected one error line"
show gpu.txt
[[ $(status_of gpu) == 77 ]] || fail "the GPU suite without a GPU: exit $(status_of gpu), expected 77 (skipped)"
show gpu_required.txt
[[ $(status_of gpu_required) == 1 ]] ||
    fail "the GPU suite with BMST_GPU_REQUIRED=1 and no GPU: exit $(status_of gpu_required), expected 1"
echo "bundle dry run: passed"
