#!/usr/bin/env bash
# Installs the Debian packages bmst_dist needs, skipping those already present.
#   launch/install_deps.sh          build and run: compilers, HDF5, MPI, BLAS, Fashion-MNIST,
#                                   libjpeg-turbo, libpng and libmatio (the image dataset converters),
#                                   libcurl, OpenSSL and libarchive (bmst_data download),
#                                   protobuf-c (bmst_dist export writes ONNX)
#   launch/install_deps.sh --tests  also what the tests use: PyTorch, NumPy, h5py, HDF5 tools,
#                                   SciPy, PIL and torchvision (the converter tests write .mat, JPEG
#                                   and PNG files and number image folders as ImageFolder does;
#                                   torchvision's models take our checkpoints),
#                                   Slurm and munge (tests/slurm starts a one-node cluster),
#                                   debootstrap (tests/bundle runs the GPU bundle in a minimal root),
#                                   strace (tests/io checks that a save fsyncs before it renames)
set -euo pipefail

packages=(build-essential cmake pkg-config zlib1g-dev libhdf5-dev libopenmpi-dev openmpi-bin
          libopenblas-openmp-dev dataset-fashion-mnist libjpeg62-turbo-dev libpng-dev libmatio-dev
          libcurl4-openssl-dev libssl-dev libarchive-dev protobuf-c-compiler libprotobuf-c-dev)
if [[ "${1:-}" == "--tests" ]]; then
    packages+=(hdf5-tools python3-torch python3-torchvision python3-numpy python3-h5py python3-scipy python3-pil
               slurm-wlm munge debootstrap strace)
fi
# --tests, observability: matplotlib (bench/plot.py draws the results; tests/bench
# runs it), and pip for tensorboard from PyPI (below: tests/cli reads
# --tensorboard's files back with its reader); venv for tests/cli/test_export.sh,
# which installs onnx and onnxruntime from PyPI into a venv of its own
if [[ "${1:-}" == "--tests" ]]; then
    packages+=(python3-matplotlib python3-pip python3-venv)
fi

sudo_cmd=()
[[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    "${sudo_cmd[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# PyPI, for the tests alone: Debian has no tensorboard package. Into the system
# Python the tests run (/usr/bin/python3), beside Debian's packages.
if [[ "${1:-}" == "--tests" ]] && ! /usr/bin/python3 -c "import tensorboard" 2> /dev/null; then
    echo "installing from PyPI: tensorboard"
    "${sudo_cmd[@]}" /usr/bin/python3 -m pip install -q --break-system-packages tensorboard==2.21.0
fi
