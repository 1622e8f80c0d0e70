"""The engine's CIFAR RevNets (Gomez et al. 2017, as the authors' code
renmengye/revnet-public builds them) written independently in PyTorch with
plain autograd, which stores every activation: the reference of the parity
test. A 3x3 conv of 32 + BN-ReLU, three stages of reversible units (strides
1/2/2), a final BN-ReLU, global pooling and the classifier. A unit splits
its input x = (x1, x2) on channels and computes y1 = s(x1) + F(x2),
y2 = s(x2) + G(y1), y = (y1, y2); F and G are [BN-ReLU-]conv layers (basic:
two 3x3; bottleneck: 1x1 to a quarter, 3x3, 1x1), F's first without BN-ReLU
in the network's first unit; s is the identity, or where the shape changes
average pooling with zero channels on both sides (basic) or a 1x1 projection
(bottleneck). Parameter names as the engine's (conv1, bn1,
layer1.0.f.bn1, layer1.0.f.conv1, ..., layer2.0.downsample1, bn, fc).
BMST folds before stage mix_at - 1."""
import torch
from torch import nn
import torch.nn.functional as F

from torch_resnet import Relu, ResNet

CONFIGS = {"revnet38": (3, (32, 64, 112), False), "revnet110": (9, (32, 64, 128), False),
           "revnet164": (9, (32, 64, 128), True)}


class Branch(nn.Module):
    """F or G: pre-activation layers; the ReLUs are the network's shared one,
    which follows the engine's masks in the parity test (parity_step writes a
    unit's, F's then G's, at the unit's place)."""

    def __init__(self, cin, cout, stride, bottleneck, first, relu):
        super().__init__()
        self.relu = relu
        layers = ([(cin, cout // 4, 1, stride), (cout // 4, cout // 4, 3, 1),
                   (cout // 4, cout, 1, 1)] if bottleneck
                  else [(cin, cout, 3, stride), (cout, cout, 3, 1)])
        self.n = len(layers)
        for i, (ci, co, k, s) in enumerate(layers):
            if not (first and i == 0):
                setattr(self, f"bn{i + 1}", nn.BatchNorm2d(ci))
            setattr(self, f"conv{i + 1}", nn.Conv2d(ci, co, k, s, k // 2, bias=False))

    def forward(self, x):
        for i in range(1, self.n + 1):
            bn = getattr(self, f"bn{i}", None)
            if bn is not None:
                x = self.relu(bn(x))
            x = getattr(self, f"conv{i}")(x)
        return x


class RevUnit(nn.Module):
    def __init__(self, cin, cout, stride, bottleneck, first, relu):
        super().__init__()
        self.cin, self.cout, self.stride = cin, cout, stride
        self.f = Branch(cin // 2, cout // 2, stride, bottleneck, first, relu)
        self.g = Branch(cout // 2, cout // 2, 1, bottleneck, False, relu)
        self.project = bottleneck and (stride != 1 or cin != cout)
        if self.project:
            self.downsample1 = nn.Conv2d(cin // 2, cout // 2, 1, stride, bias=False)
            self.downsample2 = nn.Conv2d(cin // 2, cout // 2, 1, stride, bias=False)

    def shortcut(self, x, half):
        if self.project:
            return getattr(self, f"downsample{half}")(x)
        if self.stride > 1:
            x = F.avg_pool2d(x, self.stride, self.stride)
        pad = (self.cout - self.cin) // 4
        return F.pad(x, (0, 0, 0, 0, pad, pad)) if pad else x

    def forward(self, x):
        x1, x2 = x.chunk(2, dim=1)
        y1 = self.shortcut(x1, 1) + self.f(x2)
        y2 = self.shortcut(x2, 2) + self.g(y1)
        return torch.cat([y1, y2], dim=1)


class RevNet(nn.Module):
    def __init__(self, arch, shape, classes, merge=1, mix_at=2):
        """shape is (H, W, C) of the input images."""
        super().__init__()
        units, widths, bottleneck = CONFIGS[arch]
        self.merge, self.mix_at, self.lam = merge, mix_at, 1.0
        self.relu = Relu()
        self.conv1 = nn.Conv2d(shape[2], 32, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        cin = 32
        for i, width in enumerate(widths):
            cout = width * (4 if bottleneck else 1)
            stage = [RevUnit(cin if b == 0 else cout, cout, 2 if i > 0 and b == 0 else 1,
                             bottleneck, i == 0 and b == 0, self.relu) for b in range(units)]
            cin = cout
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
        self.bn = nn.BatchNorm2d(cin)
        self.fc = nn.Linear(cin, classes)

    fold = ResNet.fold

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        for i in range(3):
            if self.training and self.merge > 1 and self.mix_at == i + 2:
                x = self.fold(x)
            x = getattr(self, f"layer{i + 1}")(x)
        x = self.relu(self.bn(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
