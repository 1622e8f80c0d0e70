"""InceptionV3 written independently in PyTorch, for the parity test (and the
PyTorch side of the benchmark): the reference of bmst_dist's inceptionv3.

Up to 64 px a side, the CIFAR variant of the pytorch-cifar100 zoo: a stride-1
stem of five convolutions, batch norm at eps 1e-5, its layers grouped in
nn.Sequential (so named "Mixed_5b.branch5x5.1.conv.weight"), classifier
"linear". From 75 px, torchvision's Inception3 without the auxiliary
classifier and with transform_input off: a stride-2 stem with two max pools,
batch norm at eps 1e-3, torchvision's names, classifier "fc". Dropout p = 0.5
before the classifier in both.

As in torch_resnet.py, the ReLUs can follow given masks (Relu), the max
pools given arg-max indices (MaxPool), and the BMST
merge folds the batch (fold) before module mix_at of the 16 (1 =
Conv2d_1a_3x3 .. 16 = Mixed_7c). Dropout can apply given masks too (the
engine's, each already multiplied by 1 / (1 - p)), so a training step is
reproduced exactly; without masks it is torch's own dropout."""
from collections import OrderedDict

import torch
from torch import nn
import torch.nn.functional as F

from torch_resnet import ResNet, Relu

CIFAR_MAX_SIZE = 64


class Dropout:
    """p = 0.5 dropout, or the given masks in forward order."""

    def __init__(self, p):
        self.p, self.masks = p, None

    def __call__(self, x, training):
        if not training:
            return x
        if self.masks is None:
            return F.dropout(x, self.p, True)
        return x * next(self.masks).to(x.dtype)


class MaxPool:
    """3x3 stride-2 max pooling shared by a whole network, or the given
    arg-max indices (the engine's, one int tensor per pool in forward order,
    as F.max_pool2d's return_indices), so a near-tie routes the gradient as
    the engine did."""

    def __init__(self):
        self.indices = None

    def __call__(self, x):
        if self.indices is None:
            return F.max_pool2d(x, 3, 2)
        index = next(self.indices).long()
        return x.flatten(2).gather(2, index.flatten(2)).view(index.shape)


class Conv(nn.Module):
    """Convolution without bias, batch norm, ReLU."""

    def __init__(self, cin, cout, kernel, relu, eps, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=eps)
        self.relu = relu

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


def chain(layers, x):
    for layer in layers:
        x = layer(x)
    return x


class Block(nn.Module):
    """An Inception block: branches (lists of layers, pools included) whose
    outputs are concatenated in order. `branches` is a list of
    (attribute names, layers): one name per layer (torchvision) or one name
    for the branch, an nn.Sequential of its layers where it has several
    (pytorch-cifar100); a layer may be a
    pooling function, which has no name of its own in torchvision."""

    def __init__(self, branches):
        super().__init__()
        self.order = []
        for names, layers in branches:
            if isinstance(names, str):  # a lone layer is not wrapped
                setattr(self, names, layers[0] if len(layers) == 1 else nn.Sequential(*layers))
                self.order.append([getattr(self, names)])
            else:
                run = []
                it = iter(names)
                for layer in layers:
                    if isinstance(layer, nn.Module) and not isinstance(layer, nn.AvgPool2d):
                        name = next(it)
                        setattr(self, name, layer)
                    run.append(layer)
                self.order.append(run)

    def forward(self, x):
        return torch.cat([chain(run, x) for run in self.order], 1)


class SplitBlock(nn.Module):
    """InceptionE: two branches end in a pair of convolutions read from one
    input, each pair concatenated; the same channel order as one concat."""

    def __init__(self, names, make, cin, relu, eps, cifar):
        super().__init__()
        for name, (ci, co, k, pad) in zip(names, make):
            setattr(self, name, Conv(ci, co, k, relu, eps, padding=pad))
        self.names, self.cifar = names, cifar
        if cifar:
            self.branch_pool = nn.Sequential(nn.AvgPool2d(3, 1, 1),
                                             Conv(cin, 192, 1, relu, eps))
        else:
            self.branch_pool = Conv(cin, 192, 1, relu, eps)

    def forward(self, x):
        m = lambda i: getattr(self, self.names[i])  # noqa: E731
        b1 = m(0)(x)
        b3 = m(1)(x)
        b3a, b3b = m(2)(b3), m(3)(b3)
        bd = m(5)(m(4)(x))
        bda, bdb = m(6)(bd), m(7)(bd)
        if self.cifar:
            bp = self.branch_pool(x)
        else:
            bp = self.branch_pool(F.avg_pool2d(x, 3, 1, 1))
        return torch.cat([b1, b3a, b3b, bda, bdb, bp], 1)


def block_a(cin, pool, relu, eps, cifar):
    c = lambda *a, **k: Conv(*a, relu=relu, eps=eps, **k)  # noqa: E731
    if cifar:
        return Block([
            ("branch1x1", [c(cin, 64, 1)]),
            ("branch5x5", [c(cin, 48, 1), c(48, 64, 5, padding=2)]),
            ("branch3x3", [c(cin, 64, 1), c(64, 96, 3, padding=1), c(96, 96, 3, padding=1)]),
            ("branchpool", [nn.AvgPool2d(3, 1, 1), c(cin, pool, 3, padding=1)])])
    return Block([
        (["branch1x1"], [c(cin, 64, 1)]),
        (["branch5x5_1", "branch5x5_2"], [c(cin, 48, 1), c(48, 64, 5, padding=2)]),
        (["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"],
         [c(cin, 64, 1), c(64, 96, 3, padding=1), c(96, 96, 3, padding=1)]),
        (["branch_pool"], [nn.AvgPool2d(3, 1, 1), c(cin, pool, 1)])])


def block_b(cin, relu, eps, cifar, max_pool):
    c = lambda *a, **k: Conv(*a, relu=relu, eps=eps, **k)  # noqa: E731
    stack = [c(cin, 64, 1), c(64, 96, 3, padding=1), c(96, 96, 3, stride=2)]
    if cifar:
        return Block([("branch3x3", [c(cin, 384, 3, stride=2)]), ("branch3x3stack", stack),
                      ("branchpool", [max_pool])])
    return Block([(["branch3x3"], [c(cin, 384, 3, stride=2)]),
                  (["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"], stack),
                  ([], [max_pool])])


def block_c(cin, c7, relu, eps, cifar):
    c = lambda *a, **k: Conv(*a, relu=relu, eps=eps, **k)  # noqa: E731
    tall = lambda ci, co: c(ci, co, (7, 1), padding=(3, 0))  # noqa: E731
    wide = lambda ci, co: c(ci, co, (1, 7), padding=(0, 3))  # noqa: E731
    stack = [c(cin, c7, 1), tall(c7, c7), wide(c7, c7), tall(c7, c7), wide(c7, 192)]
    if cifar:
        return Block([("branch1x1", [c(cin, 192, 1)]),
                      ("branch7x7", [c(cin, c7, 1), tall(c7, c7), wide(c7, 192)]),
                      ("branch7x7stack", stack),
                      ("branch_pool", [nn.AvgPool2d(3, 1, 1), c(cin, 192, 1)])])
    return Block([(["branch1x1"], [c(cin, 192, 1)]),
                  (["branch7x7_1", "branch7x7_2", "branch7x7_3"],
                   [c(cin, c7, 1), wide(c7, c7), tall(c7, 192)]),
                  ([f"branch7x7dbl_{i}" for i in range(1, 6)], stack),
                  (["branch_pool"], [nn.AvgPool2d(3, 1, 1), c(cin, 192, 1)])])


def block_d(cin, relu, eps, cifar, max_pool):
    c = lambda *a, **k: Conv(*a, relu=relu, eps=eps, **k)  # noqa: E731
    b3 = [c(cin, 192, 1), c(192, 320, 3, stride=2)]
    b7 = [c(cin, 192, 1), c(192, 192, (1, 7), padding=(0, 3)),
          c(192, 192, (7, 1), padding=(3, 0)), c(192, 192, 3, stride=2)]
    if cifar:
        return Block([("branch3x3", b3), ("branch7x7", b7),
                      ("branchpool", [nn.AvgPool2d(3, 2)])])
    return Block([(["branch3x3_1", "branch3x3_2"], b3),
                  ([f"branch7x7x3_{i}" for i in range(1, 5)], b7), ([], [max_pool])])


def block_e(cin, relu, eps, cifar):
    stack = "branch3x3stack" if cifar else "branch3x3dbl"
    names = ["branch1x1", "branch3x3_1", "branch3x3_2a", "branch3x3_2b", f"{stack}_1",
             f"{stack}_2", f"{stack}_3a", f"{stack}_3b"]
    make = [(cin, 320, 1, 0), (cin, 384, 1, 0), (384, 384, (1, 3), (0, 1)),
            (384, 384, (3, 1), (1, 0)), (cin, 448, 1, 0), (448, 384, 3, 1),
            (384, 384, (1, 3), (0, 1)), (384, 384, (3, 1), (1, 0))]
    return SplitBlock(names, make, cin, relu, eps, cifar)


class InceptionV3(nn.Module):
    def __init__(self, shape, classes, merge=1, mix_at=2):
        """shape is (H, W, C) of the input images."""
        super().__init__()
        h, w, cin = shape
        cifar = h <= CIFAR_MAX_SIZE and w <= CIFAR_MAX_SIZE
        eps = 1e-5 if cifar else 1e-3
        self.merge, self.mix_at, self.lam = merge, mix_at, 1.0
        self.relu, self.dropout, self.max_pool = Relu(), Dropout(0.5), MaxPool()
        r = self.relu
        stem = [("Conv2d_1a_3x3", cin, 32, 3, 1 if cifar else 0, 1 if cifar else 2),
                ("Conv2d_2a_3x3", 32, 32, 3, 1 if cifar else 0, 1),
                ("Conv2d_2b_3x3", 32, 64, 3, 1, 1),
                ("Conv2d_3b_1x1", 64, 80, 1, 0, 1),
                ("Conv2d_4a_3x3", 80, 192, 3, 0, 1)]
        self.sequence = []
        for name, ci, co, k, pad, stride in stem:
            setattr(self, name, Conv(ci, co, k, r, eps, stride=stride, padding=pad))
            after = None if cifar or name not in ("Conv2d_2b_3x3", "Conv2d_4a_3x3") else (
                self.max_pool)
            self.sequence.append((name, after))
        blocks = [("Mixed_5b", block_a(192, 32, r, eps, cifar)),
                  ("Mixed_5c", block_a(256, 64, r, eps, cifar)),
                  ("Mixed_5d", block_a(288, 64, r, eps, cifar)),
                  ("Mixed_6a", block_b(288, r, eps, cifar, self.max_pool))]
        blocks += [(f"Mixed_6{x}", block_c(768, c7, r, eps, cifar))
                   for x, c7 in zip("bcde", (128, 160, 160, 192))]
        blocks += [("Mixed_7a", block_d(768, r, eps, cifar, self.max_pool)),
                   ("Mixed_7b", block_e(1280, r, eps, cifar)),
                   ("Mixed_7c", block_e(2048, r, eps, cifar))]
        for name, block in blocks:
            setattr(self, name, block)
            self.sequence.append((name, None))
        self.head = "linear" if cifar else "fc"
        setattr(self, self.head, nn.Linear(2048, classes))

    fold = ResNet.fold  # the BMST merge, as the ResNets fold (it reads merge and lam)

    def forward(self, x):
        for i, (name, after) in enumerate(self.sequence):
            if self.training and self.merge > 1 and self.mix_at == i + 1:
                x = self.fold(x)
            x = getattr(self, name)(x)
            if after is not None:
                x = after(x)
        x = self.dropout(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1), self.training)
        return getattr(self, self.head)(x)
