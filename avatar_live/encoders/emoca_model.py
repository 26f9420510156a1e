"""EMOCA's encoders as plain torch modules, with the parameter names of its checkpoints.

`EFlame` and `EExpression` are DECA's `ResnetEncoder`: a ResNet-50 trunk (torchvision's
layer names, no fc) whose 2048 pooled features go through Linear 2048->1024, ReLU,
Linear 1024->N with no output activation. `EmocaEncoder` runs both on a 224 x 224 crop
and splits E_flame's 236 outputs into FLAME codes, with E_expression's 50 replacing the
expression. `EmotionMLP` is EmoDECA's MLP on shape | expression | jaw pose.

torchvision is not needed: the trunk is written out here so only torch is required
(`benchmarks/gpu_check.py` relies on that: it runs where only torch is installed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

# Equal to `encoders.crop.CROP_SIZE` (a test checks); not imported from there because
# crop.py needs numpy and OpenCV, and this module must import with torch alone.
CROP_SIZE = 224

# FLAME code layout of E_flame's output, in order (DECA's param_list).
CODE_SIZES: dict[str, int] = {"shape": 100, "tex": 50, "exp": 50, "pose": 6, "cam": 3, "light": 27}
FLAME_OUTPUTS = sum(CODE_SIZES.values())  # 236
EXPRESSION_OUTPUTS = CODE_SIZES["exp"]
FEATURES = 2048
# Emotion MLP: input shape | exp | jaw pose; output 8 class logits | valence | arousal.
EMOTION_INPUTS = CODE_SIZES["shape"] + CODE_SIZES["exp"] + 3  # 153
EMOTION_OUTPUTS = 10
EMOTION_WIDTH = 2048
EMOTION_HIDDEN_LAYERS = 4


class Bottleneck(nn.Module):
    """ResNet-50's bottleneck block (stride on the 3x3 conv, as torchvision's v1.5)."""

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int) -> None:
        super().__init__()
        out_channels = width * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet50(nn.Module):
    """ResNet-50 trunk: B x 3 x H x W -> B x 2048 globally average-pooled features."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        channels = 64
        stages = []
        for blocks, width, stride in ((3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2)):
            layers = []
            for i in range(blocks):
                layers.append(Bottleneck(channels, width, stride if i == 0 else 1))
                channels = width * Bottleneck.expansion
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(x.mean(dim=(2, 3)), 1)


class ResnetRegressor(nn.Module):
    """DECA's `ResnetEncoder`: ResNet-50 features -> Linear 2048->1024 -> ReLU -> Linear 1024->`outputs`.

    Args:
        outputs: size of the regressed code.
    """

    def __init__(self, outputs: int) -> None:
        super().__init__()
        self.outputs = outputs
        self.encoder = ResNet50()
        self.layers = nn.Sequential(nn.Linear(FEATURES, 1024), nn.ReLU(), nn.Linear(1024, outputs))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """B x 3 x 224 x 224 RGB in [0, 1] -> B x `outputs`."""
        return self.layers(self.encoder(image))


class EFlame(ResnetRegressor):
    """EMOCA's E_flame: crop -> B x 236 (shape | tex | exp | pose | cam | light)."""

    def __init__(self) -> None:
        super().__init__(FLAME_OUTPUTS)


class EExpression(ResnetRegressor):
    """EMOCA's E_expression: crop -> B x 50 FLAME expression coefficients."""

    def __init__(self) -> None:
        super().__init__(EXPRESSION_OUTPUTS)


@dataclass
class EmocaCodes:
    """What EMOCA reads from a batch of crops.

    Attributes:
        shape: B x 100 FLAME identity.
        tex: B x 50 albedo.
        exp: B x 50 FLAME expression (E_expression's).
        pose: B x 6 axis-angle: global rotation 3 | jaw 3.
        cam: B x 3 orthographic camera (s, tx, ty).
        light: B x 27 spherical-harmonics lighting (9 x RGB).
    """

    shape: torch.Tensor
    tex: torch.Tensor
    exp: torch.Tensor
    pose: torch.Tensor
    cam: torch.Tensor
    light: torch.Tensor


class EmocaEncoder(nn.Module):
    """E_flame and E_expression together: crops -> FLAME codes.

    `forward` returns a tuple in `CODE_SIZES` order (what ONNX export needs);
    `encode` returns the same as `EmocaCodes`. `branches` and `combine` split the forward
    pass into its two independent networks, which the torch backend runs concurrently.

    Args:
        e_flame: the FLAME-code regressor.
        e_expression: the expression regressor whose output replaces E_flame's expression.
    """

    label = "EMOCA encoder"
    """What the torch backend calls this model in its log lines."""

    def __init__(self, e_flame: EFlame, e_expression: EExpression) -> None:
        super().__init__()
        self.e_flame = e_flame
        self.e_expression = e_expression

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """B x 3 x 224 x 224 RGB in [0, 1], no mean/std normalization -> codes in `CODE_SIZES` order."""
        if image.dim() != 4 or tuple(image.shape[1:]) != (3, CROP_SIZE, CROP_SIZE):
            raise ValueError(f"image must be B x 3 x {CROP_SIZE} x {CROP_SIZE}, got {tuple(image.shape)}")
        return self.combine([branch(image) for branch in self.branches()])

    def branches(self) -> tuple[nn.Module, ...]:
        """The two regressors; each reads only the image, so they can run at the same time."""
        return (self.e_flame, self.e_expression)

    @staticmethod
    def combine(outputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """The branches' outputs (E_flame's, E_expression's) -> codes in `CODE_SIZES` order."""
        flame, expression = outputs
        codes = dict(zip(CODE_SIZES, torch.split(flame, list(CODE_SIZES.values()), dim=1)))
        codes["exp"] = expression
        return tuple(codes.values())

    def encode(self, image: torch.Tensor) -> EmocaCodes:
        """As `forward`, named."""
        return EmocaCodes(*self(image))


class EmotionMLP(nn.Module):
    """EmoDECA's emotion MLP: 4 x (Linear -> BatchNorm1d -> LeakyReLU 0.2) of width 2048 -> Linear -> 10.

    The parameters live in `model` (a Sequential) as in EmoDECA's `MLP`, so the
    checkpoint's `mlp.model.<i>.*` keys map one to one.
    """

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        size = EMOTION_INPUTS
        for _ in range(EMOTION_HIDDEN_LAYERS):
            layers += [nn.Linear(size, EMOTION_WIDTH), nn.BatchNorm1d(EMOTION_WIDTH), nn.LeakyReLU(0.2)]
            size = EMOTION_WIDTH
        layers.append(nn.Linear(size, EMOTION_OUTPUTS))
        self.model = nn.Sequential(*layers)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """B x 153 (shape 100 | exp 50 | jaw 3) -> B x 10 (8 class logits | valence | arousal)."""
        if codes.dim() != 2 or codes.shape[1] != EMOTION_INPUTS:
            raise ValueError(f"codes must be B x {EMOTION_INPUTS}, got {tuple(codes.shape)}")
        return self.model(codes)
