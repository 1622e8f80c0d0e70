#!/usr/bin/env bash
# Builds bmst_dist for a GPU machine that has the CUDA libraries (PyTorch's pip
# wheels or a toolkit: cuDNN, NCCL, cuBLAS, the CUDA runtime) but none of the
# other libraries the build needs (HDF5, OpenBLAS, Open MPI, libjpeg, libmatio
# and what they pull in), and packs one archive to carry there:
#
#   bmst-bundle/bin/     bmst_dist, bmst_data, test_gpu_backend (Hopper, sm_90,
#                        and a CPU part for any x86-64)
#   bmst-bundle/lib/     every shared library they load except the C and C++
#                        runtimes and the CUDA libraries, which the machine has
#   bmst-bundle/run      the entry point (launch/bundle_run.sh): `run PROGRAM`
#   bmst-bundle/BUILD_INFO   commit, date, toolchain and library versions
#
#   launch/bundle.sh [OUT.tar.xz]     default: .carry/bmst-bundle.tar.xz
#
# On the GPU machine: tar -xJf .carry/bmst-bundle.tar.xz -C DIR, then
# DIR/bmst-bundle/run --libs (where each library resolves) and
# DIR/bmst-bundle/run bmst_dist ... tests/bundle/test_bundle_dry_run.sh proves
# it on a minimal Debian root; bench/README.md has the GPU call that uses it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/.carry/bmst-bundle.tar.xz}
build=${BUNDLE_BUILD_DIR:-$root/build-bundle}
arch=${BMST_BUNDLE_CUDA_ARCH:-90}

# A portable CPU part (no -march=native: the GPU machine's processor is not
# this one) and no run path: the bundle's `run` sets the library path.
BUILD_DIR=$build "$root/launch/build.sh" -DBMST_NATIVE=OFF -DBMST_WERROR=ON \
    -DBMST_REQUIRE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$arch" -DCMAKE_SKIP_RPATH=ON > /dev/null

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
dir=$stage/bmst-bundle
mkdir -p "$dir/bin" "$dir/lib"
programs=("$build/bmst_dist" "$build/bmst_data" "$build/tests/test_gpu_backend")
cp "${programs[@]}" "$dir/bin/"
install -m 755 "$root/launch/bundle_run.sh" "$dir/run"

# The libraries the machine provides: the C and C++ runtimes, and CUDA's.
provided='^(linux-vdso|ld-linux|libc|libm|libpthread|libdl|librt|libresolv|libstdc\+\+|libgcc_s|libcuda|libcudart|libcublas|libcublasLt|libcudnn[a-z_]*|libnccl)\.so'
missing=$(ldd "${programs[@]}" | grep 'not found' || true)
[[ -z $missing ]] || { echo "bundle: unresolved libraries here:"$'\n'"$missing" >&2; exit 1; }
ldd "${programs[@]}" | awk '$2 == "=>" {print $1, $3}' | sort -u | while read -r name path; do
    [[ $name =~ $provided ]] && continue
    cp -L "$path" "$dir/lib/$name"
    strip --strip-unneeded "$dir/lib/$name" 2> /dev/null || true
done

version_of() { sed -n "s/^#define $2 *\([0-9]*\).*/\1/p" "$1" | head -1; }
cache() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
cudnn_h=$(cache BMST_CUDNN_INCLUDE_DIR)/cudnn_version.h
nccl_h=$(cache BMST_NCCL_INCLUDE_DIR)/nccl.h
# the newest glibc symbol version anything in the bundle needs
glibc=$(objdump -T "$dir"/bin/* "$dir"/lib/* 2> /dev/null | grep -o 'GLIBC_[0-9.]*' | sort -V | tail -1)
{
    echo "commit: $(git -C "$root" rev-parse HEAD 2> /dev/null || echo unknown)$(
        git -C "$root" diff --quiet HEAD 2> /dev/null || echo ' (with uncommitted changes)')"
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -m) $(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "cuda arch: sm_$arch; nvcc: $(nvcc --version 2> /dev/null | sed -n 's/.*release \([0-9.]*\).*/\1/p')"
    echo "built against cuDNN $(version_of "$cudnn_h" CUDNN_MAJOR).$(version_of "$cudnn_h" CUDNN_MINOR).$(version_of "$cudnn_h" CUDNN_PATCHLEVEL), NCCL $(version_of "$nccl_h" NCCL_MAJOR).$(version_of "$nccl_h" NCCL_MINOR).$(version_of "$nccl_h" NCCL_PATCH)"
    echo "needs: glibc >= ${glibc#GLIBC_}, libstdc++, the NVIDIA driver, and on the library path or in"
    echo "       pip wheels: libcudart.so.13, libcublas(Lt).so.13, libcudnn*.so.9, libnccl.so.2"
    echo "carried libraries: $(ls "$dir/lib" | tr '\n' ' ')"
} > "$dir/BUILD_INFO"

mkdir -p "$(dirname "$out")"
tar -C "$stage" -cJf "$out.tmp" bmst-bundle
mv "$out.tmp" "$out"
echo "bundle: $out ($(du -h "$out" | cut -f1), $(ls "$dir/lib" | wc -l) libraries)"
cat "$dir/BUILD_INFO"
