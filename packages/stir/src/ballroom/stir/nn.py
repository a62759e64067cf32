"""Feature models for STIR (no Lightning): the ``FeatureModel`` protocol, adapters and the digits MLP.

A *feature model* returns its logits and, on request, the representation at a chosen layer::

    logits = model(x)                                            # (B, C)
    logits, rep = model(x, with_latent=True)                     # rep: (B, p), penultimate layer
    logits, rep = model(x, with_latent=True, fake_relu=True)     # the final ReLU passes gradients through

``fake_relu=True`` makes the ReLU that produces the representation a *fake ReLU* (forward ReLU,
backward identity), as the official inversion does; measurement forwards use the true ReLU.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from ballroom.core.validate import check_int, check_tensor

__all__ = [
    "FeatureMLP",
    "FeatureModel",
    "HookedFeatureModel",
    "LinearFeatureModel",
    "Normalizer",
    "box_clamp",
    "fake_relu",
    "official_uses_fake_relu",
    "torchvision_feature_model",
]


class _FakeReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return grad


def fake_relu(x: Tensor) -> Tensor:
    """ReLU in the forward pass, identity in the backward pass: ``(*) -> (*)``.

    Args:
        x: any tensor.

    Returns:
        ``relu(x)``, whose gradient is passed through unchanged (also where ``x < 0``).
    """
    return _FakeReLU.apply(x)


def box_clamp(x: Tensor, lo: float = 0.0, hi: float = 1.0) -> Tensor:
    """``clamp(x, lo, hi)`` whose gradient is 1 on the closed box ``lo <= x <= hi`` and 0 outside: ``(*) -> (*)``."""
    inside = (x >= lo) & (x <= hi)
    return torch.where(inside, x, x.detach().clamp(lo, hi))


def official_uses_fake_relu(model: nn.Module) -> bool:
    """The official rule: every architecture uses the fake ReLU except VGG, Inception and "sparse"
    models, recognised by their class name (case-insensitive; a wrapper's inner ``model`` is looked at too)."""
    names = [type(model).__name__]
    inner = getattr(model, "model", None)
    if isinstance(inner, nn.Module):
        names.append(type(inner).__name__)
    return not any(k in n.lower() for n in names for k in ("vgg", "inception", "sparse"))


@runtime_checkable
class FeatureModel(Protocol):
    """``forward(x, with_latent=False, fake_relu=False, layer=None)``: logits ``(B, C)``, or
    ``(logits, rep)`` with ``rep (B, ...)`` the representation at ``layer`` (``None``: penultimate)
    when ``with_latent=True``."""

    def __call__(
        self, x: Tensor, with_latent: bool = False, fake_relu: bool = False, layer: Any = None
    ) -> Any: ...


class Normalizer(nn.Module):
    """The input normaliser every model owns: ``(clamp(x, 0, 1) - mean) / std``, ``(B, C, ...) -> same``.

    ``mean`` and ``std`` are per channel (a float or a sequence of length C); ``clamp=False`` skips
    the clamp (only for checks on unconstrained inputs). The clamp gives zero gradient to pixels outside
    ``[0, 1]``, which is what makes the first step of the official inversion ignore those pixels.

    ``clamp_grad``: the clamp's gradient at the box edges. ``"inclusive"`` (default) passes gradients
    for ``0 <= x <= 1``, as ``torch.clamp`` did in the PyTorch of the official code; ``"torch"`` uses
    today's ``torch.clamp`` (zero gradient at exactly 0 and 1, measured on torch 2.15), which freezes
    every pixel the box projection put on an edge and stalls the inversion (STIR(A0|A0) 0.73 instead
    of 0.99 on the digits MLP).
    """

    def __init__(
        self,
        mean: float | Sequence[float] = 0.0,
        std: float | Sequence[float] = 1.0,
        clamp: bool = True,
        clamp_grad: str = "inclusive",
    ) -> None:
        super().__init__()
        if clamp_grad not in ("inclusive", "torch"):
            raise ValueError(f"clamp_grad must be one of ['inclusive', 'torch'], got {clamp_grad!r}")
        self.clamp_grad = clamp_grad
        m = torch.as_tensor(mean, dtype=torch.float32).reshape(-1)
        s = torch.as_tensor(std, dtype=torch.float32).reshape(-1)
        if not bool((s > 0).all()):
            raise ValueError(f"std must be > 0 in every channel, got {s.tolist()}")
        if m.numel() != s.numel():
            raise ValueError(f"mean and std must have the same length, got {m.numel()} and {s.numel()}")
        self.mean: Tensor
        self.std: Tensor
        self.register_buffer("mean", m)
        self.register_buffer("std", s)
        self.clamp = clamp

    def forward(self, x: Tensor) -> Tensor:
        if self.clamp:
            x = box_clamp(x) if self.clamp_grad == "inclusive" else x.clamp(0.0, 1.0)
        if self.mean.numel() == 1:
            return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return (x - self.mean.to(x.dtype).view(shape)) / self.std.to(x.dtype).view(shape)

    def extra_repr(self) -> str:
        return f"mean={self.mean.tolist()}, std={self.std.tolist()}, clamp={self.clamp}, clamp_grad={self.clamp_grad!r}"


class FeatureMLP(nn.Module):
    """MLP feature model ``(B, *) -> (B, num_classes)``: ``in_features -> hidden[0] (ReLU) -> ... -> num_classes``.

    Inputs are flattened. ``layer`` selects a hidden layer's post-ReLU output as the representation
    (an index into ``hidden``; default the last one, the input of the classifier). The spec's digits
    model is ``FeatureMLP(64, (128, 16), 10)``.
    """

    def __init__(
        self, in_features: int = 64, hidden: Sequence[int] = (128, 16), num_classes: int = 10
    ) -> None:
        super().__init__()
        check_int(in_features, "in_features", min=1)
        check_int(num_classes, "num_classes", min=2)
        if len(hidden) == 0 or any(int(h) < 1 for h in hidden):
            raise ValueError(f"hidden must be a non-empty list of widths >= 1, got {list(hidden)}")
        self.in_features = in_features
        widths = [in_features, *[int(h) for h in hidden]]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(widths))
        self.head = nn.Linear(widths[-1], num_classes)

    def forward(
        self, x: Tensor, with_latent: bool = False, fake_relu: bool = False, layer: int | None = None
    ) -> Any:
        x = x.flatten(1)
        if x.shape[1] != self.in_features:
            raise ValueError(f"x must have {self.in_features} features per sample, got {x.shape[1]}")
        n = len(self.hidden)
        want = n - 1 if layer is None else check_int(layer, "layer", min=-n, max=n - 1) % n
        rep = x
        for i, lin in enumerate(self.hidden):
            pre = lin(x)
            x = _FakeReLU.apply(pre) if (fake_relu and i == want) else torch.relu(pre)
            if i == want:
                rep = x
        logits = self.head(x)
        return (logits, rep) if with_latent else logits


class LinearFeatureModel(nn.Module):
    """``r(x) = W x`` (flattened input): logits and representation are both ``(B, p)``; for exact checks.

    ``forward(x, with_latent, fake_relu, layer)`` as :class:`FeatureModel` (``fake_relu`` and
    ``layer`` are ignored).

    Args:
        weight: ``W (p, d)`` with ``d`` the flattened input size; copied into a frozen parameter.

    Raises:
        TypeError: ``weight`` is not a floating tensor.
        ValueError: ``weight`` is not 2-D, empty or not finite.
    """

    def __init__(self, weight: Tensor) -> None:
        super().__init__()
        check_tensor(weight, "weight", ndim=2)
        self.weight = nn.Parameter(weight.detach().clone(), requires_grad=False)

    def forward(
        self, x: Tensor, with_latent: bool = False, fake_relu: bool = False, layer: Any = None
    ) -> Any:
        rep = x.flatten(1) @ self.weight.T
        return (rep, rep) if with_latent else rep


class HookedFeatureModel(nn.Module):
    """Wrap any network that returns only logits: the representation is taken by a forward hook.

    Args:
        model: the network, ``model(x) -> logits``.
        layer: the name (``model.named_modules()``) of the module whose input (``capture="input"``,
            e.g. ``"fc"`` of a torchvision ResNet: the penultimate features) or output is the representation.
        capture: ``"input"`` or ``"output"`` of that module.
        relu: the name of the ReLU module producing the representation, made a fake ReLU when
            ``fake_relu=True`` (``None``: no fake ReLU available).
        relu_call: which call of ``relu`` within one forward pass is faked (torchvision's ``BasicBlock``
            calls its ``relu`` twice, the last call, index 1, produces the block's output); ``None`` fakes every call.

    ``forward(x, with_latent, fake_relu, layer)`` as :class:`FeatureModel`; ``layer`` overrides the
    module name for one call. The representation is flattened to ``(B, p)``.
    """

    def __init__(
        self,
        model: nn.Module,
        layer: str,
        capture: str = "input",
        relu: str | None = None,
        relu_call: int | None = None,
    ) -> None:
        super().__init__()
        if capture not in ("input", "output"):
            raise ValueError(f"capture must be one of ['input', 'output'], got {capture!r}")
        self.model = model
        names = dict(model.named_modules())
        for arg, name in (("layer", layer), ("relu", relu)):
            if name is not None and name not in names:
                raise ValueError(f"{arg} must name a module of the model, got {name!r}")
        self.layer, self.capture, self.relu, self.relu_call = layer, capture, relu, relu_call

    def forward(
        self, x: Tensor, with_latent: bool = False, fake_relu: bool = False, layer: str | None = None
    ) -> Any:
        modules = dict(self.model.named_modules())
        name = self.layer if layer is None else layer
        if name not in modules:
            raise ValueError(f"layer must name a module of the model, got {name!r}")
        store: list[Tensor] = []
        handles = []
        if self.capture == "input":
            handles.append(modules[name].register_forward_pre_hook(lambda m, inp: store.append(inp[0])))
        else:
            handles.append(modules[name].register_forward_hook(lambda m, inp, out: store.append(out)))
        if fake_relu:
            if self.relu is None:
                raise ValueError("fake_relu=True needs the name of the representation's ReLU (relu=...)")
            calls = [0]

            def _fake(m: nn.Module, inp: tuple[Tensor, ...], out: Tensor) -> Tensor | None:
                k, calls[0] = calls[0], calls[0] + 1
                if self.relu_call is not None and k != self.relu_call:
                    return None
                z = inp[0]
                return z + (out - z).detach()  # value relu(z), gradient identity

            handles.append(modules[self.relu].register_forward_hook(_fake))
        try:
            logits = self.model(x)
        finally:
            for h in handles:
                h.remove()
        if not with_latent:
            return logits
        if not store:
            raise RuntimeError(f"module {name!r} was not called in the forward pass")
        return logits, store[-1].flatten(1)


def torchvision_feature_model(model: nn.Module) -> HookedFeatureModel:
    """Adapter for torchvision-style ResNets (``fc`` head, ``layerN`` stages of ``BasicBlock`` or
    ``Bottleneck``) and VGGs (``classifier`` Sequential): the representation is the input of the final
    linear layer. ResNets fake the last block's final ReLU call; VGGs have none (the official rule).

    Args:
        model: a torchvision-style ResNet (an ``nn.Linear`` ``fc``) or VGG.

    Returns:
        The wrapping :class:`HookedFeatureModel`.

    Raises:
        ValueError: ``model`` is neither, or its ResNet blocks are of an unknown kind.
    """
    names = dict(model.named_modules())
    if isinstance(getattr(model, "fc", None), nn.Linear):
        stages = sorted(n for n in names if n.startswith("layer") and n[5:].isdigit())
        if not stages:
            raise ValueError("a ResNet needs layer1..layerN stages")
        last = getattr(model, stages[-1])
        block = f"{stages[-1]}.{len(last) - 1}"
        kind = type(last[-1]).__name__
        call = {"BasicBlock": 1, "Bottleneck": 2}.get(kind)
        if call is None:
            raise ValueError(f"unknown ResNet block {kind!r} (expected BasicBlock or Bottleneck)")
        return HookedFeatureModel(model, "fc", "input", relu=f"{block}.relu", relu_call=call)
    classifier = getattr(model, "classifier", None)
    if isinstance(classifier, nn.Sequential) and isinstance(classifier[-1], nn.Linear):
        return HookedFeatureModel(model, f"classifier.{len(classifier) - 1}", "input")
    raise ValueError(f"not a torchvision-style ResNet or VGG: {type(model).__name__}")
