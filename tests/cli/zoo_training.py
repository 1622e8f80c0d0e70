"""Data and the PyTorch side of tests/cli/test_zoo_training.sh; a failing
check prints why and exits non-zero.

  zoo_training.py shrink SRC.h5 DST.h5 NTRAIN NTEST
      the first NTRAIN training and NTEST test images of a dataset file at half
      the side (2x2 means, rounded), with the full set's class count, mean and
      std, so the deep networks train in seconds
  zoo_training.py torch DATA.h5 NET EPOCHS BATCH LR SEED INIT.h5
      trains the independent PyTorch model of NET (tests/parity) in float32 on
      DATA.h5 from the engine's initial weights (parity_step --save-init with
      the run's seed) with bmst_dist train's recipe (SGD, momentum 0.9, weight decay
      5e-4, a constant rate, no augmentation, the epoch's permutation, the
      remainder dropped) and prints each epoch's mean training loss
  zoo_training.py compare OURS.csv THEIRS
      our --csv against those losses: ours falls by 5% or more over the
      epochs, PyTorch's falls, and ours ends where PyTorch's does (within a
      quarter of PyTorch's first epoch's loss)
"""
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "parity"))


def shrink(src, dst, ntrain, ntest):
    with h5py.File(src, "r") as f, h5py.File(dst, "w") as g:
        for key, value in f.attrs.items():
            g.attrs[key] = value
        for split, n in (("train", int(ntrain)), ("test", int(ntest))):
            x = f[split + "/images"][:n].astype(np.float64)
            x = x.reshape(n, x.shape[1] // 2, 2, x.shape[2] // 2, 2, x.shape[3]).mean((2, 4))
            images = np.rint(x).astype(np.uint8)
            g.create_dataset(split + "/images", data=images, chunks=(min(n, 16),) + images.shape[1:])
            g.create_dataset(split + "/labels", data=f[split + "/labels"][:n])


def train_torch(path, net, epochs, batch, lr, seed, init):
    import torch
    from test_parity import load_state, reference
    from torch_resnet import soft_cross_entropy, soft_targets
    torch.manual_seed(int(seed))
    with h5py.File(path, "r") as f:
        mean, std = np.array(f.attrs["mean"]), np.array(f.attrs["std"])
        images = (np.array(f["train/images"], np.float32) / 255.0 - mean) / std
        labels = torch.from_numpy(np.array(f["train/labels"]).astype(np.int64))
        classes = int(f.attrs["classes"])
    n, h, w, c = images.shape
    x = torch.from_numpy(images.astype(np.float32)).permute(0, 3, 1, 2).contiguous()
    model = reference(net, (h, w, c), classes)
    load_state(model, init)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=float(lr), momentum=0.9, weight_decay=5e-4)
    batch = int(batch)
    for _ in range(int(epochs)):
        order, total, steps = torch.randperm(n), 0.0, 0
        for k in range(n // batch):
            idx = order[k * batch:(k + 1) * batch]
            loss = soft_cross_entropy(model(x[idx]),
                                      soft_targets(labels[idx], classes, 0.0, torch.float32))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, steps = total + loss.item(), steps + 1
        print(f"{total / steps:.6f}")


def compare(csv_path, theirs_path):
    with open(csv_path) as f:
        lines = [line for line in f if line.strip() and not line.startswith("#")]
    column = lines[0].strip().split(",").index("train_loss")
    ours = [float(line.split(",")[column]) for line in lines[1:]]
    theirs = [float(v) for v in open(theirs_path).read().split()]
    print(f"train loss per epoch: ours {ours}, PyTorch {theirs}")
    problems = []
    if len(ours) != len(theirs) or len(ours) < 2:
        problems.append(f"{len(ours)} epochs of ours, {len(theirs)} of PyTorch's")
    else:
        if not ours[-1] < 0.95 * ours[0]:
            problems.append(f"ours did not fall: {ours}")
        if not theirs[-1] < theirs[0]:
            problems.append(f"PyTorch's did not fall: {theirs}")
        if not abs(ours[-1] - theirs[-1]) < 0.25 * theirs[0]:
            problems.append(f"ours ends at {ours[-1]:.3f}, PyTorch's at {theirs[-1]:.3f}")
    for p in problems:
        print("FAIL:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "shrink":
        shrink(*args)
    elif command == "torch":
        train_torch(*args)
    else:
        sys.exit(compare(*args))
