"""What W data-parallel ranks with per-rank batch norm compute over one epoch,
written independently in PyTorch: the reference for test_equivalence.sh's runs
without --sync-bn.

  rank_bn_reference.py DATA.h5 WEIGHTS.h5 OUT.h5 --world W --batch B
                       --seed S --momentum M --weight-decay WD

The runs it stands for use --lr 0: the weights stay at their initial values
(read from WEIGHTS.h5, any checkpoint of such a run), so every step's gradient
is taken at the same point and rounding cannot steer two computations onto
different trajectories. What an epoch leaves behind is then the momentum
buffer (the discounted sum of every step's gradient plus weight decay) and the
batch-norm running statistics, which OUT.h5 holds under the checkpoint's names.

Step k takes positions [k*W*B, (k+1)*W*B) of the epoch's permutation (the
engine's splitmix64 generator, ported below), rank r the r-th block of B. Each
rank normalizes with its own block's mean and variance; its loss is the mean
cross-entropy of its block and the all-reduced gradient is the mean over the
ranks, i.e. the gradient of the mean loss over the W*B samples with batch norm
taken per block, which is what this model computes in one pass (the batch is
viewed as [W, B, ...]). Each rank updates its own running statistics and the
ranks average them after the epoch; the update is linear, so that average is
the running statistics updated every step with the mean over the blocks of
the blocks' statistics, which is what is kept here."""
import argparse
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "parity"))
import torch_resnet  # noqa: E402

MASK64 = (1 << 64) - 1
STREAM_SHUFFLE = 2  # BMST_RNG_SHUFFLE in src/rng.h
BN_EPS, BN_MOMENTUM = 1e-5, 0.1  # as PyTorch's BatchNorm2d and src/ops.c


def hash64(x):
    """bmst_hash64: splitmix64's finalizer."""
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def permutation(seed, epoch, n):
    """bmst_rng_permutation(bmst_rng_make(seed, SHUFFLE, epoch), n)."""
    key = hash64(hash64(hash64(seed) ^ STREAM_SHUFFLE) ^ epoch)
    perm = list(range(n))
    for draw, i in enumerate(range(n, 1, -1)):
        j = ((hash64(key ^ hash64(draw)) >> 32) * i) >> 32
        perm[i - 1], perm[j] = perm[j], perm[i - 1]
    return perm


class RankBatchNorm(nn.Module):
    """BatchNorm2d whose training statistics are taken per block of `world`
    equal blocks of the batch."""

    def __init__(self, channels, world):
        super().__init__()
        self.world = world
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
        self.register_buffer("num_batches_tracked", torch.zeros((), dtype=torch.int64))

    def forward(self, x):
        n, c, h, w = x.shape
        blocks = x.view(self.world, n // self.world, c, h, w)
        mean = blocks.mean(dim=(1, 3, 4), keepdim=True)
        var = ((blocks - mean) ** 2).mean(dim=(1, 3, 4), keepdim=True)
        y = ((blocks - mean) / torch.sqrt(var + BN_EPS)).view(n, c, h, w)
        with torch.no_grad():
            count = n // self.world * h * w
            self.running_mean.mul_(1 - BN_MOMENTUM).add_(BN_MOMENTUM * mean.mean(dim=0).view(c))
            unbiased = var * count / (count - 1)
            self.running_var.mul_(1 - BN_MOMENTUM).add_(BN_MOMENTUM * unbiased.mean(dim=0).view(c))
            self.num_batches_tracked += 1
        return y * self.weight.view(1, c, 1, 1) + self.bias.view(1, c, 1, 1)


def per_rank_bn(module, world):
    """Replaces every BatchNorm2d under module with a RankBatchNorm."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, RankBatchNorm(child.num_features, world))
        else:
            per_rank_bn(child, world)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("data")
    p.add_argument("weights")
    p.add_argument("out")
    p.add_argument("--world", type=int, required=True)
    p.add_argument("--batch", type=int, required=True, help="per rank")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--momentum", type=float, required=True)
    p.add_argument("--weight-decay", type=float, required=True)
    a = p.parse_args()
    torch.set_num_threads(1)

    with h5py.File(a.data, "r") as f:
        images, labels = f["train/images"][()], f["train/labels"][()]
        mean, std = f.attrs["mean"], f.attrs["std"]
        classes = int(f.attrs["classes"])
    n, h, w, c = images.shape
    # the loader's table: (v / 255 - mean) / std in double, stored as float
    lut = np.stack([(np.arange(256) / 255.0 - float(mean[k])) / float(std[k]) for k in range(c)],
                   axis=1).astype(np.float32)

    model = torch_resnet.ResNet("resnet20", (h, w, c), classes)
    per_rank_bn(model, a.world)
    with h5py.File(a.weights, "r") as f:
        for name, param in model.named_parameters():
            param.data.copy_(torch.from_numpy(f["model"][name][()]))
    model.train()

    params = dict(model.named_parameters())
    momentum = {name: torch.zeros_like(q) for name, q in params.items()}
    batch = a.world * a.batch
    order = permutation(a.seed, 0, n)
    for step in range(n // batch):
        idx = order[step * batch:(step + 1) * batch]
        x = torch.from_numpy(lut[images[idx], np.arange(c)]).permute(0, 3, 1, 2)
        model.zero_grad()
        F.cross_entropy(model(x), torch.from_numpy(labels[idx]).long()).backward()
        with torch.no_grad():
            for name, q in params.items():
                momentum[name].mul_(a.momentum).add_(q.grad + a.weight_decay * q)

    with h5py.File(a.out, "w") as f:
        for name, v in model.state_dict().items():
            f["model/" + name] = v.numpy()
        for name, v in momentum.items():
            f["optimizer/momentum_buffer/" + name] = v.numpy()


if __name__ == "__main__":
    main()
