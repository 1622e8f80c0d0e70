"""An independent count of a training step's floating-point operations, for
tests/cli/test_flops.sh: the networks are torchvision's ResNets (with the
CIFAR stem for small images) and a CIFAR ResNet written here, run once on a
random batch with hooks that count every layer from its own shapes, by the
rules docs/cli.md ("info") states:

  convolution  2*N*Ho*Wo*K*C*R*S forward; backward its filter's gradient
               and, but for the first layer (whose input is the image), its
               input's, each as much again
  linear       2*N*in*out + N*out forward; backward that again, plus the
               input's gradient 2*N*in*out
  batch norm   6 per element forward (training), 9 backward
  ReLU         1 per element each way
  residual add 1 per element forward, 0 backward
  max pool     k*k per output forward, k*k + 1 backward
  global pool  1 per input element each way
  BMST merge   2 per input element forward, 1 backward
  loss         6 per logit forward, 2 backward

  flops_count.py ARCH H W C CLASSES BATCH MERGE
prints "forward backward" in GFLOP per training image (BATCH images enter).
"""
import sys

import torch
import torch.nn as nn
import torchvision


class CifarBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu2 = nn.ReLU()
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(y + (x if self.shortcut is None else self.shortcut(x)))


def cifar_resnet(depth, channels, classes):
    """He et al.'s CIFAR ResNet-(6n+2): widths 16, 32, 64."""
    n = (depth - 2) // 6
    layers, cin = [], 16
    for i, width in enumerate([16, 32, 64]):
        blocks = []
        for b in range(n):
            blocks.append(CifarBlock(cin, width, 2 if i > 0 and b == 0 else 1))
            cin = width
        layers.append(nn.Sequential(*blocks))
    model = nn.Module()
    model.conv1 = nn.Conv2d(channels, 16, 3, 1, 1, bias=False)
    model.bn1 = nn.BatchNorm2d(16)
    model.relu = nn.ReLU()
    model.maxpool = nn.Identity()
    model.layer1, model.layer2, model.layer3 = layers
    model.avgpool = nn.AdaptiveAvgPool2d(1)
    model.fc = nn.Linear(64, classes)
    return model


def build(arch, h, w, c, classes):
    if arch.startswith("resnet") and int(arch[6:]) in (20, 32, 44, 56, 110):
        return cifar_resnet(int(arch[6:]), c, classes)
    model = getattr(torchvision.models, arch)(num_classes=classes)
    model.conv1 = nn.Conv2d(c, 64, 7, 2, 3, bias=False)
    if h <= 64 and w <= 64:  # the CIFAR stem
        model.conv1 = nn.Conv2d(c, 64, 3, 1, 1, bias=False)
        model.maxpool = nn.Identity()
    return model


def run(model, x, merge):
    """The training forward pass, counting; returns (forward, backward)."""
    count = {"fwd": 0.0, "bwd": 0.0}
    seen_conv = []

    def add(f, b):
        count["fwd"] += f
        count["bwd"] += b

    def on_conv(m, inputs, out):
        n, k, ho, wo = out.shape
        r, s = m.kernel_size
        f = 2.0 * n * ho * wo * k * (m.in_channels // m.groups) * r * s
        add(f, f if not seen_conv else 2 * f)
        seen_conv.append(m)

    def on_linear(m, inputs, out):
        n = out.shape[0]
        product, bias = 2.0 * n * m.in_features * m.out_features, n * m.out_features
        add(product + bias, 2 * product + bias)

    def on_bn(m, inputs, out):
        add(6.0 * out.numel(), 9.0 * out.numel())

    def on_relu(m, inputs, out):
        add(out.numel(), out.numel())

    def on_block(m, inputs, out):  # the residual add
        add(out.numel(), 0.0)

    def on_maxpool(m, inputs, out):
        k = m.kernel_size * m.kernel_size
        add(k * out.numel(), out.numel())

    def on_gap(m, inputs, out):
        add(inputs[0].numel(), inputs[0].numel())

    def merge_before_layer1(m, inputs):
        x = inputs[0]
        add(2.0 * x.numel(), x.numel())
        chunks = x.chunk(merge)
        r = chunks[0]
        for chunk in chunks[1:]:
            r = 0.5 * r + 0.5 * chunk
        return (r,)

    blocks = (torchvision.models.resnet.BasicBlock, torchvision.models.resnet.Bottleneck,
              CifarBlock)
    for mod in model.modules():
        if isinstance(mod, nn.Conv2d):
            mod.register_forward_hook(on_conv)
        elif isinstance(mod, nn.Linear):
            mod.register_forward_hook(on_linear)
        elif isinstance(mod, nn.BatchNorm2d):
            mod.register_forward_hook(on_bn)
        elif isinstance(mod, nn.ReLU):
            mod.register_forward_hook(on_relu)
        elif isinstance(mod, blocks):
            mod.register_forward_hook(on_block)
        elif isinstance(mod, nn.MaxPool2d):
            mod.register_forward_hook(on_maxpool)
        elif isinstance(mod, nn.AdaptiveAvgPool2d):
            mod.register_forward_hook(on_gap)
    if merge > 1:
        model.layer1.register_forward_pre_hook(merge_before_layer1)
    model.train()
    with torch.no_grad():
        x = model.relu(model.bn1(model.conv1(x)))
        x = model.maxpool(x)
        for name in ("layer1", "layer2", "layer3", "layer4"):
            if hasattr(model, name):
                x = getattr(model, name)(x)
        logits = model.fc(torch.flatten(model.avgpool(x), 1))
    add(6.0 * logits.numel(), 2.0 * logits.numel())
    return count["fwd"], count["bwd"]


def main():
    arch = sys.argv[1]
    h, w, c, classes, batch, merge = map(int, sys.argv[2:8])
    torch.manual_seed(0)
    model = build(arch, h, w, c, classes)
    forward, backward = run(model, torch.randn(batch, c, h, w), merge)
    print(f"{forward / batch / 1e9:.6g} {backward / batch / 1e9:.6g}")


main()
