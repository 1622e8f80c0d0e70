#!/usr/bin/env bash
# Runs bmst_dist under Open MPI's mpirun on this machine with settings that
# suit it: one process (rank) per GPU, or for CPU training N processes that
# share the cores.
#
#   launch/mpirun.sh [-np N] [bmst_dist arguments...]
#   launch/mpirun.sh -np 2 train --data data/fmnist.h5 --net resnet20 --device cpu --report r.json
#
# -np N (also -n N, --np N): the number of ranks; by default one per GPU
#     (counted with nvidia-smi -L, or from CUDA_VISIBLE_DEVICES when set),
#     and 1 on a machine without GPUs.
# Environment:
#   BMST_DIST         the binary (default: build/bmst_dist of this checkout)
#   BMST_OMP_THREADS  OpenMP threads per rank (default: logical CPUs / N, at least 1)
#   BMST_MPIRUN_ARGS  further mpirun options, placed before the program
#                     (e.g. "--hostfile hosts --map-by ppr:4:node"); with hosts
#                     other than this one, set BMST_OMP_THREADS, since the
#                     default is computed from this machine's CPUs
#   BMST_DRY_RUN=1    print the mpirun command without running it
# Variables named BMST_*, NCCL_*, HDF5_*, OMP_* and OPENBLAS_* that are set
# here are passed to every rank (-x), which matters once ranks run on other
# hosts (on this one they inherit the environment anyway).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
me=mpirun.sh

die() {
    echo "$me: error: $*" >&2
    exit 2
}

# GPUs this process may use: CUDA_VISIBLE_DEVICES when it is set (an empty
# value hides them all), else what nvidia-smi lists.
gpu_count() {
    if [[ -n "${CUDA_VISIBLE_DEVICES+set}" ]]; then
        local v=${CUDA_VISIBLE_DEVICES// /}
        if [[ -z $v || $v == -1 || $v == NoDevFiles ]]; then
            echo 0
        else
            tr ',' '\n' <<< "$v" | grep -c .
        fi
    elif command -v nvidia-smi > /dev/null 2>&1; then
        nvidia-smi -L 2> /dev/null | grep -c '^GPU ' || true
    else
        echo 0
    fi
}

np=
case "${1:-}" in
    -np | -n | --np)
        [[ $# -ge 2 ]] || die "$1 needs a number"
        np=$2
        shift 2
        ;;
    -np=* | --np=*)
        np=${1#*=}
        shift
        ;;
esac
gpus=$(gpu_count)
if [[ -z $np ]]; then
    np=$((gpus > 0 ? gpus : 1))
fi
[[ $np =~ ^[1-9][0-9]*$ ]] || die "-np expects a positive whole number, got '$np'"
if ((gpus > 0 && np > gpus)); then
    echo "$me: note: $np ranks but $gpus GPUs: ranks share GPUs (rank k of a node takes GPU k mod $gpus)"
fi

bin=${BMST_DIST:-$root/build/bmst_dist}
[[ -x $bin ]] || die "no bmst_dist at $bin (build it with launch/build.sh, or set BMST_DIST)"
command -v mpirun > /dev/null 2>&1 || die "mpirun not found (Debian: apt-get install openmpi-bin)"

# Logical CPUs this process may run on (nproc honours cgroups and affinity,
# so inside a Slurm allocation or a container it counts what was given), and
# physical cores, which is what Open MPI counts as slots on a plain machine.
cpus=$(nproc)
cores=$(lscpu -p=core,socket 2> /dev/null | grep -v '^#' | sort -u | grep -c . || true)
((cores > 0 && cores <= cpus)) || cores=$cpus

threads=${BMST_OMP_THREADS:-$((cpus / np))}
((threads >= 1)) || threads=1
export OMP_NUM_THREADS=$threads

opts=(-np "$np")
if ((np > cores)); then
    # More ranks than cores: mpirun refuses unless told that several ranks may
    # share a core. Binding would then pin several ranks to the same core
    # while others idle, so ranks are left unbound for the OS to balance.
    opts+=(--oversubscribe --map-by slot --bind-to none)
elif ((np == 1)); then
    # One rank: it may use every core; no binding.
    opts+=(--bind-to none)
else
    # Ranks are placed round-robin over the sockets (--map-by socket): on a
    # two-socket GPU server whose GPUs are split between the sockets, rank k
    # (which takes GPU k) alternates sockets just as the GPUs do, and on the
    # CPU the ranks divide the memory bandwidth evenly. Each rank is bound to
    # its socket (--bind-to socket), not to one core: its OpenMP threads and
    # data-loader threads then run on, and allocate memory from, that socket
    # alone, while the OS balances them within it. (Open MPI's default binds
    # each of 1 or 2 ranks to a single core, which would put all of a rank's
    # threads on that core.)
    opts+=(--map-by socket --bind-to socket)
fi
# Open MPI refuses to start as root unless told; CI and containers run as root.
if [[ $(id -u) -eq 0 ]]; then
    opts+=(--allow-run-as-root)
fi
# Send the settings to every rank.
while IFS='=' read -r name _; do
    opts+=(-x "$name")
done < <(env | grep -E '^(BMST_[A-Z0-9_]*|NCCL_[A-Z0-9_]*|HDF5_[A-Z0-9_]*|OMP_[A-Z0-9_]*|OPENBLAS_[A-Z0-9_]*)=' |
    grep -vE '^(BMST_DRY_RUN|BMST_MPIRUN_ARGS)=' | sort)
read -r -a extra <<< "${BMST_MPIRUN_ARGS:-}"

cmd=(mpirun "${opts[@]}" "${extra[@]}" "$bin" "$@")
echo "$me: OMP_NUM_THREADS=$threads ($cpus CPUs, $cores cores, $gpus GPUs)"
printf -v shown ' %q' "${cmd[@]}"
echo "$me:$shown"
[[ "${BMST_DRY_RUN:-0}" == 1 ]] && exit 0
exec "${cmd[@]}"
