"""The engine's DenseNet-121/161 written independently in PyTorch, the
reference of the parity test: torchvision's layer order and parameter names
(features.conv0, features.denseblock1.denselayer1.norm1, ...,
features.transition1.conv, features.norm5, classifier), with every dense
layer's input made by torch.cat as an eager DenseNet does. The ImageNet stem
(7x7 stride 2 + 3x3 max pool) above 64 px, the CIFAR stem (3x3 conv, stride
1, no max pool) up to it; BMST folds the batch before dense block mix_at - 1
(mix_at 2 = right after the stem), as torch_resnet.ResNet does.

Also torchvision's own eager DenseNet with the same stems and folding, the
PyTorch side of the benchmarks (torchvision_densenet)."""
import torch
from torch import nn
import torch.nn.functional as F

from torch_resnet import CIFAR_STEM_MAX_SIZE, Relu, ResNet

CONFIGS = {  # growth, initial features, layers per block
    "densenet121": (32, 64, (6, 12, 24, 16)),
    "densenet161": (48, 96, (6, 12, 36, 24)),
}
BN_SIZE = 4


class DenseNet(nn.Module):
    def __init__(self, arch, shape, classes, merge=1, mix_at=2):
        """shape is (H, W, C) of the input images."""
        super().__init__()
        h, w, c = shape
        growth, features, layers = CONFIGS[arch]
        self.merge, self.mix_at, self.lam = merge, mix_at, 1.0
        self.relu = Relu()
        self.small = h <= CIFAR_STEM_MAX_SIZE and w <= CIFAR_STEM_MAX_SIZE
        f = nn.ModuleDict()
        if self.small:
            f["conv0"] = nn.Conv2d(c, features, 3, 1, 1, bias=False)
        else:
            f["conv0"] = nn.Conv2d(c, features, 7, 2, 3, bias=False)
        f["norm0"] = nn.BatchNorm2d(features)
        self.blocks = layers
        for b, count in enumerate(layers):
            block = nn.ModuleDict()
            for i in range(count):
                block[f"denselayer{i + 1}"] = nn.ModuleDict({
                    "norm1": nn.BatchNorm2d(features + i * growth),
                    "conv1": nn.Conv2d(features + i * growth, BN_SIZE * growth, 1, bias=False),
                    "norm2": nn.BatchNorm2d(BN_SIZE * growth),
                    "conv2": nn.Conv2d(BN_SIZE * growth, growth, 3, 1, 1, bias=False)})
            f[f"denseblock{b + 1}"] = block
            features += count * growth
            if b < len(layers) - 1:
                f[f"transition{b + 1}"] = nn.ModuleDict({
                    "norm": nn.BatchNorm2d(features),
                    "conv": nn.Conv2d(features, features // 2, 1, bias=False)})
                features //= 2
        f["norm5"] = nn.BatchNorm2d(features)
        self.features = f
        self.classifier = nn.Linear(features, classes)

    # the BMST merge of m contiguous chunks (images or soft targets)
    fold = ResNet.fold

    def forward(self, x):
        f = self.features
        x = self.relu(f["norm0"](f["conv0"](x)))
        if not self.small:
            x = F.max_pool2d(x, 3, 2, 1)
        for b in range(len(self.blocks)):
            if self.training and self.merge > 1 and self.mix_at == b + 2:
                x = self.fold(x)
            inputs = [x]
            for layer in f[f"denseblock{b + 1}"].values():
                y = layer["conv1"](self.relu(layer["norm1"](torch.cat(inputs, 1))))
                inputs.append(layer["conv2"](self.relu(layer["norm2"](y))))
            x = torch.cat(inputs, 1)
            if b < len(self.blocks) - 1:
                t = f[f"transition{b + 1}"]
                x = F.avg_pool2d(t["conv"](self.relu(t["norm"](x))), 2, 2)
        x = self.relu(f["norm5"](x))
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def torchvision_densenet(net, shape, classes, merge, mix_at):
    """torchvision's eager DenseNet (torch.cat of every earlier feature map in
    each layer, in-place ReLUs), with the CIFAR stem bmst_dist takes up to
    64 px, and BMST folding before dense block mix_at - 1."""
    import torchvision
    h, w, c = shape
    model = getattr(torchvision.models, net)(num_classes=classes)
    features = model.features
    if h <= CIFAR_STEM_MAX_SIZE and w <= CIFAR_STEM_MAX_SIZE:
        features.conv0 = nn.Conv2d(c, features.conv0.out_channels, 3, 1, 1, bias=False)
        features.pool0 = nn.Identity()
    model.merge, model.lam = merge, 1.0
    if merge > 1:
        where = ["denseblock1", "denseblock2", "denseblock3", "denseblock4"][mix_at - 2]
        block = getattr(features, where)
        block.register_forward_pre_hook(
            lambda _, args: (model.fold(args[0]),) if model.training else None)
    model.fold = lambda x: ResNet.fold(model, x)
    return model
