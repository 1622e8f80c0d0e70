"""Two class subsets of a converted dataset as datasets of their own, for
the fine-tuning check: the first K classes (labels kept) and the next K
(labels remapped to 0..K-1), the first N training and M test images of each
in the source's order, written in bmst_dist's dataset format
(docs/dataset-format.md: chunked uint8 images, int32 labels, the class
names, mean and std of the subset's own training pixels).

  class_halves.py SRC.h5 FIRST.h5 SECOND.h5 K N M

e.g. Fashion-MNIST (bmst_data convert, tests/cli/lib.sh's
fashion_mnist_halves): pretrain on classes 0-4, fine-tune on 5-9."""
import sys

import h5py
import numpy as np


def pick(f, split, lo, hi, count):
    labels = np.array(f[f"{split}/labels"])
    index = np.flatnonzero((labels >= lo) & (labels < hi))[:count]
    if len(index) < count:
        sys.exit(f"{split} holds {len(index)} images of classes {lo}..{hi - 1}, not {count}")
    return np.array(f[f"{split}/images"][np.sort(index)]), (labels[index] - lo).astype(np.int32)


def statistics(images):
    """Per-channel mean and population std on the 0..1 scale, from exact
    256-bin histograms as the format's writer computes them."""
    mean, std = [], []
    for c in range(images.shape[3]):
        counts = np.bincount(images[..., c].ravel(), minlength=256).astype(np.float64)
        v = np.arange(256) / 255.0
        m = (counts * v).sum() / counts.sum()
        mean.append(m)
        std.append(np.sqrt((counts * (v - m) ** 2).sum() / counts.sum()))
    return np.array(mean, np.float32), np.array(std, np.float32)


def write(path, name, names, train, test):
    with h5py.File(path, "w") as out:
        for split, (images, labels) in (("train", train), ("test", test)):
            chunk = (min(len(images), 16),) + images.shape[1:]
            out.create_dataset(f"{split}/images", data=images, chunks=chunk)
            out.create_dataset(f"{split}/labels", data=labels)
        mean, std = statistics(train[0])
        out.attrs.update({"format": "bmst_dataset", "version": 1, "name": name,
                          "classes": len(names), "class_names": names, "mean": mean,
                          "std": std})


def main(src, first, second, k, n_train, n_test):
    with h5py.File(src, "r") as f:
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in f.attrs["class_names"]]
        base = f.attrs["name"]
        base = base.decode() if isinstance(base, bytes) else str(base)
        if len(names) < 2 * k:
            sys.exit(f"{src} has {len(names)} classes, not {2 * k}")
        for path, lo in ((first, 0), (second, k)):
            write(path, f"{base}-{lo}-{lo + k - 1}", names[lo:lo + k],
                  pick(f, "train", lo, lo + k, n_train), pick(f, "test", lo, lo + k, n_test))


if __name__ == "__main__":
    a = sys.argv
    main(a[1], a[2], a[3], int(a[4]), int(a[5]), int(a[6]))
