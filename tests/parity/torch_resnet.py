"""The engine's networks written independently in PyTorch: the reference for
the parity test and the PyTorch side of bench/cpu_vs_pytorch.sh.

torchvision-style ResNet-18/34/50/101/152 and Wide ResNet-50-2 (stride on the
bottleneck's 3x3 conv, as v1.5) with the CIFAR stem (3x3 conv, stride 1, no max pool) for inputs
up to 64 px and the ImageNet stem (7x7 stride 2 + max pool) above, and the
three-stage CIFAR ResNet-20/44/56 with 1x1 projection shortcuts. Parameter
names match torchvision's, so state_dicts map 1:1 onto bmst_dist checkpoints.

BMST: with merge m > 1 the batch is cut into m contiguous chunks before stage
mix_at (2 = right after the stem), folded as r = chunk0; r = lam*r +
(1-lam)*chunk_j, and the soft targets are folded the same way."""
import torch
from torch import nn
import torch.nn.functional as F

CIFAR_STEM_MAX_SIZE = 64


class Relu:
    """ReLU shared by a whole network. For the parity test it can instead
    apply given masks (the engine's own, one per ReLU in forward order): a
    float64 reference then takes the same side of every kink as the engine's
    float32 arithmetic, where rounding alone can flip an input near zero."""

    def __init__(self):
        self.masks = None  # an iterator of 0/1 tensors shaped like the inputs

    def __call__(self, x):
        if self.masks is None:
            return F.relu(x)
        return x * next(self.masks).to(x.dtype)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, width, stride, relu):
        super().__init__()
        self.relu = relu
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample = projection(cin, width, stride)

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + (self.downsample(x) if self.downsample is not None else x))


class Bottleneck(nn.Module):
    expansion = 4
    wide = 1  # the inner convs' width over `width`

    def __init__(self, cin, width, stride, relu):
        super().__init__()
        self.relu = relu
        inner = self.wide * width
        self.conv1 = nn.Conv2d(cin, inner, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(inner)
        self.conv2 = nn.Conv2d(inner, inner, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(inner)
        self.conv3 = nn.Conv2d(inner, 4 * width, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(4 * width)
        self.downsample = projection(cin, 4 * width, stride)

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + (self.downsample(x) if self.downsample is not None else x))


class WideBottleneck(Bottleneck):
    """Wide ResNet-50-2's: the 1x1 and 3x3 inner convs twice as wide."""
    wide = 2


def projection(cin, cout, stride):
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


IMAGENET_FAMILY = {
    "resnet18": (BasicBlock, [2, 2, 2, 2]),
    "resnet34": (BasicBlock, [3, 4, 6, 3]),
    "resnet50": (Bottleneck, [3, 4, 6, 3]),
    "resnet101": (Bottleneck, [3, 4, 23, 3]),
    "resnet152": (Bottleneck, [3, 8, 36, 3]),
    "wide_resnet50_2": (WideBottleneck, [3, 4, 6, 3]),
}
CIFAR_FAMILY = {"resnet20": 3, "resnet44": 7, "resnet56": 9}


class ResNet(nn.Module):
    def __init__(self, arch, shape, classes, merge=1, mix_at=2):
        """shape is (H, W, C) of the input images."""
        super().__init__()
        h, w, c = shape
        self.merge, self.mix_at, self.lam = merge, mix_at, 1.0
        self.relu = Relu()
        if arch in IMAGENET_FAMILY:
            block, blocks = IMAGENET_FAMILY[arch]
            widths = [64, 128, 256, 512]
            stem = 64
            small = h <= CIFAR_STEM_MAX_SIZE and w <= CIFAR_STEM_MAX_SIZE
        elif arch in CIFAR_FAMILY:
            block, blocks = BasicBlock, [CIFAR_FAMILY[arch]] * 3
            widths = [16, 32, 64]
            stem = 16
            small = True
        else:
            raise ValueError(f"unknown architecture {arch}")
        if small:
            self.conv1 = nn.Conv2d(c, stem, 3, 1, 1, bias=False)
            self.maxpool = None
        else:
            self.conv1 = nn.Conv2d(c, stem, 7, 2, 3, bias=False)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.bn1 = nn.BatchNorm2d(stem)
        cin = stem
        self.stages = []
        for i, (width, count) in enumerate(zip(widths, blocks)):
            layer = []
            for b in range(count):
                layer.append(block(cin, width, 2 if i > 0 and b == 0 else 1, self.relu))
                cin = width * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*layer))
            self.stages.append(f"layer{i + 1}")
        self.fc = nn.Linear(cin, classes)

    def fold(self, x):
        """The BMST merge of m contiguous chunks (images or soft targets)."""
        chunks = x.chunk(self.merge)
        r = chunks[0]
        for chunk in chunks[1:]:
            r = self.lam * r + (1.0 - self.lam) * chunk
        return r

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        if self.maxpool is not None:
            x = self.maxpool(x)
        for i, name in enumerate(self.stages):
            if self.training and self.merge > 1 and self.mix_at == i + 2:
                x = self.fold(x)
            x = getattr(self, name)(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def soft_targets(labels, classes, smoothing, dtype):
    """(1 - eps) * one-hot + eps / classes, as the engine builds them."""
    t = F.one_hot(labels.long(), classes).to(dtype)
    return t * (1.0 - smoothing) + smoothing / classes


def soft_cross_entropy(logits, targets):
    return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


def param_groups(model, no_decay=(), weight_decay=0.0):
    """The optimizer's parameter groups for bmst_dist's --no-decay words ("bn":
    every batch norm's weight and bias; "bias": the other layers' biases):
    the decayed parameters first, then the exempt ones with weight decay 0,
    each in named_parameters() order. Returns [(group dict, names)]; one
    group without exemptions."""
    bn = {f"{m}.{p}" for m, mod in model.named_modules() if isinstance(mod, nn.BatchNorm2d)
          for p, _ in mod.named_parameters(recurse=False)}
    kept, exempt = [], []
    for name, p in model.named_parameters():
        out = (name in bn and "bn" in no_decay) or (
            name not in bn and name.endswith(".bias") and "bias" in no_decay)
        (exempt if out else kept).append((name, p))
    groups = [({"params": [p for _, p in kept], "weight_decay": weight_decay},
               [n for n, _ in kept])]
    if exempt:
        groups.append(({"params": [p for _, p in exempt], "weight_decay": 0.0},
                       [n for n, _ in exempt]))
    return groups
