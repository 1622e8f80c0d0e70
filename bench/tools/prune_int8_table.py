"""The table of bench/prune_int8.sh (docs/pruning.md, "Measured") from its
raw output in OUT and its files in WORK.

Sizes: "dense fp32" is the sum of the bytes of every tensor under /model of
the dense run's checkpoint (weights, batch-norm parameters and running
statistics, num_batches_tracked; no optimizer state, no mask), the model a
checkpoint holds; the int8 HDF5 and the ONNX files are counted whole, as
they lie on disk.

usage: prune_int8_table.py OUT WORK NET...   (the system Python, with h5py)"""
import os
import re
import sys

import h5py


def model_bytes(path):
    with h5py.File(path, "r") as f:
        return sum(f["model"][k].nbytes for k in f["model"])


def accuracy(path):
    return float(re.search(r"accuracy ([0-9.]+)%", open(path).read().splitlines()[-1]).group(1))


def main(out, work, nets):
    print("| net | sparsity | test acc fp32 | test acc int8 (eval --int8) | onnxruntime int8 QDQ "
          "acc / agreement with fp32 | dense fp32 model tensors | int8 HDF5 (sparse tensors) | "
          "smaller by | ONNX fp32 | ONNX int8 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for net in nets:
        dense = model_bytes(f"{work}/{net}-dense.h5")
        for name, sparsity in (("dense", "0"), ("s60", "60%"), ("s70", "70%")):
            run = f"{net}-{name}"
            if not os.path.exists(f"{out}/eval-{run}.txt"):
                continue
            h5 = os.path.getsize(f"{work}/{run}.int8.h5")
            sparse = re.search(r"(\d+) of them sparse", open(f"{out}/export-h5-{run}.txt").read())
            agree = open(f"{out}/onnx-agree-{run}.txt").read().strip().splitlines()[-1]
            ort = re.search(r"agreement ([0-9.]+)% .* int8 ([0-9.]+)%", agree)
            print(f"| {net} | {sparsity} | {accuracy(f'{out}/eval-{run}.txt'):.2f}% "
                  f"| {accuracy(f'{out}/eval-int8-{run}.txt'):.2f}% "
                  f"| {ort.group(2)}% / {ort.group(1)}% "
                  f"| {dense:,} B | {h5:,} B ({sparse.group(1)}) | {dense / h5:.2f}x "
                  f"| {os.path.getsize(f'{work}/{run}.onnx'):,} B "
                  f"| {os.path.getsize(f'{work}/{run}.int8.onnx'):,} B |")


main(sys.argv[1], sys.argv[2], sys.argv[3:])
