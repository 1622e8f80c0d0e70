#!/bin/sh
# The entry point of a bundle made by launch/bundle.sh (copied there as `run`):
# runs one of its programs with the bundle's own libraries first, then the CUDA
# libraries of the machine it runs on (cuDNN, NCCL, cuBLAS, the CUDA runtime:
# PyTorch's pip wheels or a toolkit), then the machine's system libraries.
#
#   run PROGRAM [ARGS...]   bmst_dist, bmst_data or test_gpu_backend
#   run --libs              where every library of every program resolves, as
#                           bundle, device (CUDA) or system (the C and C++
#                           runtimes); exit 1 when one is missing or comes from
#                           anywhere else
#
# BMST_NVIDIA_LIBS (folders, colon-separated) replaces the search for the CUDA
# libraries. Plain POSIX sh: a minimal system has no bash.
set -eu
here=$(cd "$(dirname "$0")" && pwd)

# Folders holding the CUDA libraries: the `nvidia` package of the pip wheels
# (<pkg>/lib, versioned names only), then toolkits, then the driver's folder.
cuda_dirs() {
    if [ -n "${BMST_NVIDIA_LIBS:-}" ]; then
        echo "$BMST_NVIDIA_LIBS"
        return
    fi
    wheels=""
    if command -v python3 > /dev/null 2>&1; then
        wheels=$(python3 -c "import nvidia; print(' '.join(nvidia.__path__))" 2> /dev/null || true)
    fi
    dirs=""
    for d in $wheels /opt/*/.venv/lib/python3*/site-packages/nvidia \
        /usr/local/lib/python3*/dist-packages/nvidia /usr/lib/python3/dist-packages/nvidia; do
        for lib in "$d"/*/lib; do
            [ -d "$lib" ] || continue
            case ":$dirs:" in *":$lib:"*) ;; *) dirs="$dirs${dirs:+:}$lib" ;; esac
        done
    done
    for lib in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/nvidia/lib64; do
        [ -d "$lib" ] && dirs="$dirs${dirs:+:}$lib"
    done
    echo "$dirs"
}

device_dirs=$(cuda_dirs)
LD_LIBRARY_PATH="$here/lib${device_dirs:+:$device_dirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH

# One line per library: NAME  PATH  [bundle|device|system|MISSING|ELSEWHERE].
list_libs() {
    for prog in "$here"/bin/*; do
        echo "$(basename "$prog"):"
        # the dynamic loader's own resolution, as ldd prints it, without ldd
        out=$(LD_TRACE_LOADED_OBJECTS=1 "$prog" 2>&1) || true
        echo "$out" | while read -r name arrow path rest; do
            [ "$arrow" = "=>" ] || continue
            case "$path" in
            not) where=MISSING ;;
            "$here"/lib/*) where=bundle ;;
            *)
                where=ELSEWHERE
                case "$name" in
                libc.so.* | libm.so.* | libpthread.so.* | libdl.so.* | librt.so.* | libresolv.so.* | \
                    libstdc++.so.* | libgcc_s.so.*) where=system ;;
                libcuda.so.* | libcudart.so.* | libcublas.so.* | libcublasLt.so.* | libcudnn*.so.* | \
                    libnccl.so.*) where=device ;;
                esac
                ;;
            esac
            printf '  %-28s %-70s %s\n' "$name" "$path" "$where"
        done
    done
}

case "${1:-}" in
--libs)
    listing=$(list_libs)
    echo "$listing"
    if echo "$listing" | grep -q -E ' (MISSING|ELSEWHERE)$'; then
        echo "run --libs: some libraries are missing or come from outside the bundle" >&2
        exit 1
    fi
    ;;
"" | -h | --help)
    echo "usage: run PROGRAM [ARGS...] | run --libs   (programs: $(ls "$here/bin" | tr '\n' ' '))"
    ;;
*)
    prog=$1
    shift
    [ -x "$here/bin/$prog" ] || {
        echo "run: no program '$prog' in this bundle ($(ls "$here/bin" | tr '\n' ' '))" >&2
        exit 2
    }
    exec "$here/bin/$prog" "$@"
    ;;
esac
