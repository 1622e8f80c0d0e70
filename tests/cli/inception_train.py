"""The PyTorch side of tests/cli/test_inception.sh.

  inception_train.py shrink SRC.h5 DST.h5 NTRAIN NTEST
      the first NTRAIN training and NTEST test images of a dataset file at
      half their size (2x2 means, rounded), with the mean and std the loader
      normalizes by computed again (docs/dataset-format.md)
  inception_train.py train DATA.h5 EPOCHS BATCH LR
      trains the reference InceptionV3 (tests/parity/torch_inception.py) in
      float32 on DATA's training images with the recipe the test gives
      bmst_dist (Adam, weight decay 5e-4, a constant rate, no augmentation,
      reshuffled every epoch) and prints each epoch's mean training loss,
      one per line
  inception_train.py count ARCH H W C CLASSES
      the trainable parameters of torchvision's inception_v3 (ARCH
      torchvision, without the auxiliary classifier) or of the reference
      (ARCH reference) for that input
"""
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "parity"))
from torch_inception import InceptionV3  # noqa: E402


def shrink(src, dst, ntrain, ntest):
    with h5py.File(src, "r") as f, h5py.File(dst, "w") as g:
        for key, value in f.attrs.items():
            g.attrs[key] = value
        for split, n in (("train", int(ntrain)), ("test", int(ntest))):
            x = f[split + "/images"][:n].astype(np.float64)
            n_, h, w, c = x.shape
            x = x[:, :h // 2 * 2, :w // 2 * 2].reshape(n_, h // 2, 2, w // 2, 2, c).mean((2, 4))
            images = np.rint(x).astype(np.uint8)
            g.create_dataset(split + "/images", data=images,
                             chunks=(min(n_, 16),) + images.shape[1:])
            g.create_dataset(split + "/labels", data=f[split + "/labels"][:n])
            if split == "train":
                pixels = images.reshape(-1, c) / 255.0
                g.attrs["mean"] = pixels.mean(0).astype(np.float32)
                g.attrs["std"] = pixels.std(0).astype(np.float32)


def train(path, epochs, batch, lr):
    torch.manual_seed(1)
    with h5py.File(path, "r") as f:
        images = torch.from_numpy(f["train/images"][()]).float() / 255.0
        labels = torch.from_numpy(f["train/labels"][()]).long()
        mean, std = (torch.from_numpy(np.array(f.attrs[k])).float() for k in ("mean", "std"))
    x_all = ((images - mean) / std).permute(0, 3, 1, 2).contiguous()
    model = InceptionV3(tuple(images.shape[1:]), int(labels.max()) + 1).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=5e-4)
    steps = len(labels) // batch  # the last partial batch is dropped, as bmst_dist does
    for _ in range(epochs):
        order = torch.randperm(len(labels))
        total = 0.0
        for s in range(steps):
            idx = order[s * batch:(s + 1) * batch]
            loss = F.cross_entropy(model(x_all[idx]), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        print(total / steps)


def count(arch, h, w, c, classes):
    if arch == "torchvision":
        import torchvision  # only this count needs it
        model = torchvision.models.inception_v3(num_classes=classes, aux_logits=False,
                                                init_weights=False)
    else:
        model = InceptionV3((h, w, c), classes)
    print(sum(p.numel() for p in model.parameters()))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    if cmd == "shrink":
        shrink(*args)
    elif cmd == "train":
        train(args[0], int(args[1]), int(args[2]), float(args[3]))
    else:
        count(args[0], *map(int, args[1:]))
