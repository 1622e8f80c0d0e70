"""Data and checks for tests/mpi/test_equivalence.sh; a failing check prints
why and exits non-zero.

  equivalence.py subset SRC.h5 DST.h5 NTRAIN NTEST
      the first NTRAIN training and NTEST test samples of a dataset file, with
      its attributes (the full set's mean and std, which the loader uses)
  equivalence.py compare A.h5 B.h5 MOMENTUM_TOL STATS_TOL
      two checkpoints of --lr 0 runs: the same weights bit for bit (none
      moved), the same step count in every batch norm, and every momentum
      buffer and running statistic within the tolerance, as the relative L2
      difference ||a - b|| / ||a|| of each tensor
"""
import sys

import h5py
import numpy as np


def subset(src, dst, ntrain, ntest):
    with h5py.File(src, "r") as f, h5py.File(dst, "w") as g:
        for key, value in f.attrs.items():
            g.attrs[key] = value
        for split, n in (("train", int(ntrain)), ("test", int(ntest))):
            images = f[split + "/images"][:n]
            # chunked by a few images, as bmst_data writes (docs/dataset-format.md)
            chunks = (min(n, 16),) + images.shape[1:]
            g.create_dataset(split + "/images", data=images, chunks=chunks)
            g.create_dataset(split + "/labels", data=f[split + "/labels"][:n])


def tensors(path):
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
        f.visititems(visit)
    return out


def kind(name):
    if name.startswith("optimizer/momentum_buffer/"):
        return "momentum"
    if name.endswith("num_batches_tracked"):
        return "steps"
    if name.endswith(("running_mean", "running_var")):
        return "statistics"
    return "weights"


def compare(a_path, b_path, momentum_tol, stats_tol):
    a, b = tensors(a_path), tensors(b_path)
    if set(a) != set(b):
        return f"different tensors: {sorted(set(a) ^ set(b))[:5]}"
    tol = {"momentum": float(momentum_tol), "statistics": float(stats_tol)}
    worst = {"momentum": (0.0, None), "statistics": (0.0, None)}
    for name in sorted(a):
        x, y = a[name], b[name]
        what = kind(name)
        if what in ("weights", "steps"):
            if not np.array_equal(x, y):
                return f"{name} differs ({what} must be equal)"
            continue
        x, y = x.astype(np.float64), y.astype(np.float64)
        err = np.linalg.norm(x - y) / max(np.linalg.norm(x), 1e-30)
        if not err <= worst[what][0]:  # NaN counts as worst
            worst[what] = (err, name)
    print("largest relative difference: " +
          ", ".join(f"{w} {e:.3g} in {n}" for w, (e, n) in worst.items()))
    for what, (err, name) in worst.items():
        if not err <= tol[what]:
            return f"{what}: {err:.3g} > {tol[what]} in {name}"
    return None


def main():
    what, args = sys.argv[1], sys.argv[2:]
    if what == "subset":
        subset(*args)
        return
    problem = compare(*args)
    if problem:
        print(problem)
        sys.exit(1)


if __name__ == "__main__":
    main()
