"""Checks for tests/mpi/test_distributed.sh; each prints why it fails and
exits non-zero.

  compare.py weights A.h5 B.h5 TOL   every float tensor of two checkpoints
                                     within TOL of the largest magnitude
  compare.py eval ONE.log MANY.log   the same test loss and accuracy
  compare.py report R.json RANKS EPOCHS
                                     an entry per rank per epoch, summaries
                                     that are the min / mean / max of them
"""
import json
import re
import sys

import h5py
import numpy as np


def tensors(path):
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.dtype.kind == "f":
                out[name] = obj[()].astype(np.float64)
        f.visititems(visit)
    return out


def weights(a_path, b_path, tol):
    a, b = tensors(a_path), tensors(b_path)
    if set(a) != set(b):
        return f"different tensors: {sorted(set(a) ^ set(b))[:5]}"
    worst, name = 0.0, None
    for k in a:
        err = np.abs(a[k] - b[k]).max() / max(np.abs(a[k]).max(), 1e-12)
        if err > worst:
            worst, name = err, k
    print(f"largest relative difference {worst:.3g} in {name} ({len(a)} tensors)")
    return None if worst <= float(tol) else f"{worst:.3g} > {tol} in {name}"


def eval_figures(path):
    text = open(path).read()
    m = re.search(r"loss ([0-9.]+), accuracy ([0-9.]+)%", text)
    if not m:
        raise SystemExit(f"no evaluation line in {path}: {text[-300:]}")
    return float(m.group(1)), float(m.group(2))


def evaluation(one, many):
    (l1, a1), (l2, a2) = eval_figures(one), eval_figures(many)
    print(f"loss {l1} vs {l2}, accuracy {a1}% vs {a2}%")
    if a1 != a2 or abs(l1 - l2) > 2e-6:
        return f"one process {l1}/{a1}%, several {l2}/{a2}%"
    return None


def report(path, ranks, epochs):
    r = json.load(open(path))
    ranks, epochs = int(ranks), int(epochs)
    if r["world"] != ranks or r["global_batch"] != ranks * r["batch_per_rank"]:
        return f"world {r['world']}, global batch {r['global_batch']}"
    if len(r["epochs"]) != epochs:
        return f"{len(r['epochs'])} epochs reported, {epochs} run"
    for e in r["epochs"]:
        if sorted(x["rank"] for x in e["ranks"]) != list(range(ranks)):
            return f"epoch {e['epoch']}: ranks {[x['rank'] for x in e['ranks']]}"
        for key, s in e["summary"].items():
            values = [x[key] for x in e["ranks"]]
            want = (min(values), sum(values) / len(values), max(values))
            got = (s["min"], s["mean"], s["max"])
            if any(abs(g - w) > 1e-5 * max(1.0, abs(w)) for g, w in zip(got, want)):
                return f"epoch {e['epoch']} {key}: summary {got}, ranks give {want}"
        images = sum(x["images"] for x in e["ranks"])
        slowest = max(x["epoch_s"] for x in e["ranks"])
        if abs(e["images_per_s"] - images / slowest) > 1e-3 * e["images_per_s"]:
            return f"epoch {e['epoch']}: global {e['images_per_s']} img/s, ranks give {images / slowest}"
        if any(x["images"] != e["steps"] * r["batch_per_rank"] for x in e["ranks"]):
            return f"epoch {e['epoch']}: images per rank differ from steps x batch"
    print(f"{ranks} ranks x {epochs} epochs, summaries consistent")
    return None


def main():
    what, args = sys.argv[1], sys.argv[2:]
    problem = {"weights": weights, "eval": evaluation, "report": report}[what](*args)
    if problem:
        print(problem)
        sys.exit(1)


if __name__ == "__main__":
    main()
