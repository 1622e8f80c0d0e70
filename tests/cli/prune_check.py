"""Checks a pruned checkpoint (tests/cli/test_prune.sh): its format version, that
the mask prunes the schedule's share of the conv and fc weights (per layer
with --prune-scope layer: within one weight), never a batch norm's parameters
or a bias, that pruned weights and their momentum are exactly zero, and the
CSV's sparsity column against Zhu & Gupta's formula computed here.

usage: prune_check.py CKPT SCOPE S T0 T1 EVERY STEPS_PER_EPOCH [CSV]"""
import csv
import sys

import h5py
import numpy as np


def target(t, s, t0, t1, every):
    """The sparsity in force after step t: the formula at the last update."""
    if t < t0:
        return 0.0
    if t >= t1:
        return s
    u = t0 + (t - t0) // every * every
    return s + (0.0 - s) * (1.0 - (u - t0) / (t1 - t0)) ** 3


def main():
    path, scope = sys.argv[1], sys.argv[2]
    s, t0, t1, every, per_epoch = float(sys.argv[3]), *map(int, sys.argv[4:8])
    errors = []
    with h5py.File(path) as f:
        if f.attrs["version"] != 6:
            errors.append(f"version {f.attrs['version']}, expected 6")
        mask = f["prune_mask"][()]
        bits = np.unpackbits(mask.view(np.uint8), bitorder="little")
        step = int(f.attrs["step"])
        want = target(step, s, t0, t1, every)
        model, momentum = f["model"], f["optimizer/momentum_buffer"]
        total = pruned_total = weights_total = 0
        for name in momentum:  # the trainable parameters
            w, m = model[name][()], momentum[name][()]
            weights_total += w.size
            zero = w == 0
            if w.ndim < 2:
                if zero.any():
                    errors.append(f"{name}: {zero.sum()} zeros in a batch norm or bias")
                continue
            if not np.array_equal(np.signbit(w[zero]), np.zeros(zero.sum(), bool)):
                errors.append(f"{name}: a pruned weight is -0, not +0")
            if (m[zero] != 0).any():
                errors.append(f"{name}: momentum of {(m[zero] != 0).sum()} pruned weights not 0")
            total += w.size
            pruned_total += zero.sum()
            if scope == "layer" and abs(zero.sum() - want * w.size) > 1:
                errors.append(f"{name}: {zero.sum()} of {w.size} pruned, schedule {want:.6f}")
        masked = int((bits[:weights_total] == 0).sum())
        if masked != pruned_total:
            errors.append(f"the mask prunes {masked}, the weights hold {pruned_total} zeros")
        if abs(pruned_total - want * total) > (1 if scope == "global" else len(momentum)):
            errors.append(f"{pruned_total} of {total} pruned, schedule {want:.6f} after step {step}")
        if want <= 0:
            errors.append("the check ran before anything was pruned")
    if len(sys.argv) > 8:
        with open(sys.argv[8]) as f:
            # the lines before the header describe the run (# NAME: VALUE)
            for row in csv.DictReader(line for line in f if not line.startswith("#")):
                t = int(row["epoch"]) * per_epoch
                got, expect = float(row["sparsity"]), target(t, s, t0, t1, every)
                if abs(got - expect) > 1e-5 + 1.0 / total:
                    errors.append(f"CSV epoch {row['epoch']}: sparsity {got}, schedule {expect}")
    for e in errors:
        print(e)
    sys.exit(1 if errors else 0)


main()
