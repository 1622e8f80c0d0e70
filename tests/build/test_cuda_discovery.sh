#!/usr/bin/env bash
# Where CMake looks for the CUDA libraries (cmake/cuda_libraries.cmake):
#  1. cuDNN and NCCL in the layout of PyTorch's pip wheels (nvidia/cudnn/lib
#     holding libcudnn.so.9 and no libcudnn.so, headers in nvidia/cudnn/include;
#     likewise nvidia/nccl), made here from this machine's toolkit: the configure
#     step must pick them over the toolkit's, and bmst_dist must link them.
#  2. BMST_REQUIRE_CUDA=ON with no nvcc to be found: the configure step fails,
#     naming what is missing; without the option it succeeds with the CUDA
#     backend off and says why.
# Skipped (77) where this machine has no CUDA toolkit with cuDNN and NCCL.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

cuda=/usr/local/cuda
libdir=$cuda/lib64
[[ -x $cuda/bin/nvcc && -e $libdir/libcudnn.so.9 && -e $libdir/libnccl.so.2 && -e $cuda/include/cudnn.h ]] ||
    { echo "skipped: no CUDA toolkit with cuDNN and NCCL under $cuda"; exit 77; }

echo "== 1. the pip wheels' layout"
wheels=$tmp/site-packages/nvidia
mkdir -p "$wheels"/{cudnn,nccl}/{include,lib}
ln -s "$cuda"/include/cudnn*.h "$wheels/cudnn/include/"
ln -s "$(readlink -f "$libdir/libcudnn.so.9")" "$wheels/cudnn/lib/libcudnn.so.9"
ln -s "$cuda/include/nccl.h" "$wheels/nccl/include/"
ln -s "$(readlink -f "$libdir/libnccl.so.2")" "$wheels/nccl/lib/libnccl.so.2"
cmake -S "$root" -B "$tmp/wheels-build" -DBMST_NVIDIA_WHEELS="$wheels" -DBMST_REQUIRE_CUDA=ON \
    > "$tmp/configure.log" 2>&1 || { cat "$tmp/configure.log"; fail "configure with the wheels failed"; }
cached() { sed -n "s/^$1:[A-Z]*=//p" "$tmp/wheels-build/CMakeCache.txt"; }
[[ $(cached BMST_CUDNN) == "$wheels/cudnn/lib/libcudnn.so.9" ]] || fail "cuDNN: $(cached BMST_CUDNN)"
[[ $(cached BMST_CUDNN_INCLUDE_DIR) == "$wheels/cudnn/include" ]] || fail "cudnn.h: $(cached BMST_CUDNN_INCLUDE_DIR)"
[[ $(cached BMST_NCCL) == "$wheels/nccl/lib/libnccl.so.2" ]] || fail "NCCL: $(cached BMST_NCCL)"
grep -q "NCCL: comm/nccl.c" "$tmp/configure.log" || fail "NCCL found but not built in"
cmake --build "$tmp/wheels-build" --target bmst_dist -j "$(nproc)" > "$tmp/build.log" 2>&1 ||
    { tail -20 "$tmp/build.log"; fail "bmst_dist does not build against the wheels"; }
ldd "$tmp/wheels-build/bmst_dist" | grep -q "libcudnn.so.9 => $wheels/cudnn/lib/libcudnn.so.9" ||
    fail "bmst_dist does not load the wheels' cuDNN: $(ldd "$tmp/wheels-build/bmst_dist" | grep cudnn)"
ldd "$tmp/wheels-build/bmst_dist" | grep -q "libnccl.so.2 => $wheels/nccl/lib/libnccl.so.2" ||
    fail "bmst_dist does not load the wheels' NCCL"
echo "found, linked and loaded from $wheels"

echo "== 2. BMST_REQUIRE_CUDA=ON without nvcc"
no_cuda=(env PATH=/usr/bin:/bin cmake -S "$root" -DBMST_CUDA_ROOT=/nonexistent)
"${no_cuda[@]}" -B "$tmp/required" -DBMST_REQUIRE_CUDA=ON > "$tmp/required.log" 2>&1 &&
    fail "the configure step succeeded without nvcc"
grep -q "BMST_REQUIRE_CUDA=ON, but the CUDA backend cannot be built: missing nvcc" "$tmp/required.log" ||
    { cat "$tmp/required.log"; fail "no message naming nvcc"; }
"${no_cuda[@]}" -B "$tmp/optional" > "$tmp/optional.log" 2>&1 ||
    { cat "$tmp/optional.log"; fail "without BMST_REQUIRE_CUDA the configure step must succeed"; }
grep -q "CUDA backend: OFF (missing nvcc" "$tmp/optional.log" || fail "no notice that CUDA is off"
echo "required: fails, naming nvcc; optional: CPU-only, saying so"
echo "cuda discovery: passed"
