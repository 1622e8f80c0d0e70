"""The engine's pre-activation bottleneck CIFAR ResNet-164 (He et al. 2016,
"Identity Mappings in Deep Residual Networks", as the authors' code builds it)
written independently in PyTorch, the reference of the parity test: a 3x3 conv
of 16, three stages of 18 units of BN-ReLU-conv1x1, BN-ReLU-conv3x3,
BN-ReLU-conv1x1 (widths 16/32/64, outputs 4x), the identity added; where the
shape changes the first BN-ReLU is shared with a 1x1 projection shortcut and
the stride is on the first 1x1 conv; a final BN-ReLU, global pooling and the
classifier. Parameter names as the engine's (conv1, layer1.0.bn1,
layer1.0.downsample.0, bn, fc). BMST folds before stage mix_at - 1."""
import torch
from torch import nn
import torch.nn.functional as F

from torch_resnet import Relu, ResNet

DEPTHS = {"resnet164": 18}


class PreActBottleneck(nn.Module):
    def __init__(self, cin, width, stride, relu):
        super().__init__()
        self.relu = relu
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, width, 1, stride, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, 4 * width, 1, bias=False)
        self.downsample = None
        if stride != 1 or cin != 4 * width:
            self.downsample = nn.Sequential(nn.Conv2d(cin, 4 * width, 1, stride, bias=False))

    def forward(self, x):
        act = self.relu(self.bn1(x))
        y = self.conv1(act)
        y = self.conv2(self.relu(self.bn2(y)))
        y = self.conv3(self.relu(self.bn3(y)))
        return y + (self.downsample(act) if self.downsample is not None else x)


class PreActResNet(nn.Module):
    def __init__(self, arch, shape, classes, merge=1, mix_at=2):
        """shape is (H, W, C) of the input images."""
        super().__init__()
        units = DEPTHS[arch]
        self.merge, self.mix_at, self.lam = merge, mix_at, 1.0
        self.relu = Relu()
        self.conv1 = nn.Conv2d(shape[2], 16, 3, 1, 1, bias=False)
        cin = 16
        for i, width in enumerate((16, 32, 64)):
            stage = []
            for b in range(units):
                stage.append(PreActBottleneck(cin, width, 2 if i > 0 and b == 0 else 1,
                                              self.relu))
                cin = 4 * width
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
        self.bn = nn.BatchNorm2d(cin)
        self.fc = nn.Linear(cin, classes)

    # the BMST merge of m contiguous chunks (images or soft targets)
    fold = ResNet.fold

    def forward(self, x):
        x = self.conv1(x)
        for i in range(3):
            if self.training and self.merge > 1 and self.mix_at == i + 2:
                x = self.fold(x)
            x = getattr(self, f"layer{i + 1}")(x)
        x = self.relu(self.bn(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
