"""eval's figures against a PyTorch computation from the checkpoint: the
logits of every test image through torch_resnet.py's model in float64 (eval
mode, images normalized as the loader does), then top-1, top-k (k = 5, or
the class count when there are fewer), per-class counts and the confusion
matrix (rows: true class, columns: arg max), compared with what eval printed
and the CSV --confusion wrote.

usage: eval_metrics_check.py DATA.h5 CKPT.h5 EVAL.log CONFUSION.csv"""
import csv
import os
import re
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "parity"))
from torch_resnet import ResNet  # noqa: E402


def main():
    data, ckpt, log, confusion_csv = sys.argv[1:5]
    with h5py.File(data, "r") as f:
        images = np.array(f["test/images"], np.float64) / 255.0
        labels = np.array(f["test/labels"]).astype(np.int64)
        mean, std = np.array(f.attrs["mean"], np.float64), np.array(f.attrs["std"], np.float64)
    with h5py.File(ckpt, "r") as f:
        arch = f.attrs["arch"]
        arch = arch.decode() if isinstance(arch, bytes) else str(arch)
        state = {n: torch.from_numpy(np.array(v)) for n, v in f["model"].items()}
    classes = int(state["fc.bias"].shape[0])
    model = ResNet(arch, images.shape[1:], classes)
    model.load_state_dict(state, strict=True)
    model = model.double().eval()
    x = torch.from_numpy((images - mean) / std).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        logits = model(x).numpy()
    k = min(5, classes)
    pred = logits.argmax(1)
    above = (logits > logits[np.arange(len(labels)), labels][:, None]).sum(1)
    ref = np.zeros((classes, classes), np.int64)
    np.add.at(ref, (labels, pred), 1)
    problems = []

    with open(confusion_csv) as f:
        rows = list(csv.reader(f))
    if rows[0] != ["true\\predicted"] + [str(j) for j in range(classes)]:
        problems.append(f"header {rows[0]}")
    ours = np.array([[int(v) for v in r[1:]] for r in rows[1:]])
    if [r[0] for r in rows[1:]] != [str(j) for j in range(classes)]:
        problems.append("rows are not numbered 0..classes-1")
    if ours.shape != ref.shape or not (ours == ref).all():
        problems.append(f"confusion matrix differs from PyTorch's:\n{ours}\nvs\n{ref}")
    if classes > k and len(set(pred)) < 2:  # (with classes <= 5 top-k is all of them)
        problems.append(f"the checkpoint predicts one class only ({set(pred)}): too weak a check")

    text = open(log).read()
    m = re.search(r"accuracy ([0-9.]+)%, top-(\d+) ([0-9.]+)% \((\d+) images", text)
    if not m:
        problems.append(f"no evaluation line: {text[-300:]}")
    else:
        top1, kk, topk, n = float(m[1]), int(m[2]), float(m[3]), int(m[4])
        if kk != k:
            problems.append(f"eval says top-{kk}, expected top-{k}")
        if n != len(labels) or n != ours.sum():
            problems.append(f"{n} images, the matrix holds {ours.sum()}, the split {len(labels)}")
        if abs(top1 - 100.0 * np.trace(ours) / ours.sum()) > 0.006:
            problems.append(f"top-1 {top1}% vs the matrix's diagonal {np.trace(ours)}/{ours.sum()}")
        if abs(top1 - 100.0 * (pred == labels).mean()) > 0.006:
            problems.append(f"top-1 {top1}% vs PyTorch's {100.0 * (pred == labels).mean():.2f}%")
        if abs(topk - 100.0 * (above < k).mean()) > 0.006:
            problems.append(f"top-{k} {topk}% vs PyTorch's {100.0 * (above < k).mean():.2f}%")
    per_class = re.findall(r"^\s+(\d+) \S+\s+(\d+) / (\d+)\s+(\S+)$", text, re.M)
    if len(per_class) != classes:
        problems.append(f"{len(per_class)} per-class lines for {classes} classes")
    for c, correct, total, _ in per_class:
        c = int(c)
        if int(correct) != ours[c, c] or int(total) != ours[c].sum() or \
                int(total) != (labels == c).sum():
            problems.append(f"class {c}: {correct}/{total}, matrix row {ours[c]}, "
                            f"{(labels == c).sum()} labels")
    for p in problems:
        print("FAIL:", p)
    print(f"eval metrics: {classes} classes, top-1 {100.0 * (pred == labels).mean():.2f}%, "
          f"top-{k} {100.0 * (above < k).mean():.2f}%: {'ok' if not problems else 'FAIL'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
