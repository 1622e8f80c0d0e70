#!/usr/bin/env bash
# From a fresh machine to a trained network: installs what is missing, builds,
# converts Fashion-MNIST (Debian's dataset-fashion-mnist) to the project's HDF5
# format and trains resnet20 with BMST (--merge 2) for three epochs on the CPU.
# Extra arguments are passed to `bmst_dist train` (e.g. --epochs 1).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/launch/install_deps.sh"
mkdir -p "$root/build"
BUILD_DIR="$root/build" "$root/launch/build.sh"

data="$root/data/fashion-mnist.h5"
if [[ ! -f "$data" ]]; then
    mkdir -p "$root/data"
    "$root/build/bmst_data" convert fashion-mnist /usr/share/datasets/fashion-mnist "$data"
fi
mkdir -p "$root/runs"
"$root/build/bmst_dist" train --data "$data" --net resnet20 --merge 2 --batch 128 \
    --epochs 3 --lr 0.1 --schedule cosine --nesterov --augment off \
    --save "$root/runs/quickstart.h5" --csv "$root/runs/quickstart.csv" "$@"
