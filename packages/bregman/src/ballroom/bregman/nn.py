"""Bregman layers and MLPs (plain ``nn.Module``s, no Lightning).

A Bregman layer solves ``x_l = argmin_x psi(x) - psi'(x_{l-1}) x - <W x_{l-1} + b, x>`` in closed form:
``x_l = sigma(sigma^{-1}(x_{l-1}) + W x_{l-1} + b)``; at ``W = 0, b = 0`` it is the identity.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ballroom.bregman.activations import Activation, get_activation
from ballroom.bregman.functional import project_simplex
from ballroom.bregman.fused import _stack, supports_fused_backward
from ballroom.core.validate import check_choice, check_in_range, check_positive, check_tensor

__all__ = ["BregmanLinear", "BregmanMLP", "layer_displacement"]

VERSIONS = ("bregman", "euclidean", "standard")
SKIPS = ("simplex", "mean", "identity")
OFFSETS = ("exact", "official")
INITS = ("random", "deterministic", "zero")


def _autocast_enabled(device_type: str) -> bool:
    try:
        return bool(torch.is_autocast_enabled(device_type))
    except TypeError:  # torch < 2.4: no device argument; CPU autocast has its own query
        if device_type == "cpu":
            return bool(torch.is_autocast_cpu_enabled())
        return bool(torch.is_autocast_enabled())


class BregmanLinear(nn.Module):
    """One layer ``(*, in_features) -> (*, out_features)``.

    - ``version="bregman"``: ``sigma(sigma^{-1}(clamp(P x)) + W x + b)``, clamp to ``[lo + eps, hi - eps]``.
    - ``version="euclidean"``: ``sigma(P x + W x + b)`` (official ``euclidean``: ``V = I + W``).
    - ``version="standard"``: ``sigma(W x + b)``.

    ``P`` is the identity when the widths are equal. Otherwise its rows lie on the probability
    simplex, so ``P x`` stays inside the (convex) range: ``skip="simplex"`` (default) projects a
    default ``nn.Linear`` init onto the simplex, ``skip="mean"`` is ``1/in_features`` everywhere.
    ``P`` is a non-trainable buffer ``skip_weight`` (never re-projected in ``forward``);
    ``trainable_skip=True`` learns it as ``softmax(skip_logits)`` over each row instead.
    ``offset="official"`` reproduces the official code's sigmoid/relu offsets (and its plain ReLU
    in ``standard``/``euclidean`` relu nets); the default is the exact inverse.

    Parameters ``weight (out, in)`` and ``bias (out,)`` are laid out as in ``nn.Linear``.

    Args:
        in_features: input width.
        out_features: output width.
        activation: an activation name (see :data:`~ballroom.bregman.activations.ACTIVATIONS`) or an
            :class:`~ballroom.bregman.activations.Activation`.
        version: ``"bregman"``, ``"euclidean"`` or ``"standard"`` (above).
        skip: ``"simplex"``, ``"mean"`` or ``"identity"`` (equal widths only): how ``P`` is initialised.
        trainable_skip: learn ``P`` as a row softmax (above).
        eps: the clamp margin (``< (hi - lo) / 2`` for a bounded range).
        offset: ``"exact"`` or ``"official"`` (above).
        bias: learn a bias ``b``.

    Raises:
        ValueError: a width that is not a positive int, an unknown ``version``, ``skip``, ``offset`` or
            ``activation``, a bad ``eps``, or ``skip="identity"`` with differing widths.
    """

    skip_weight: Tensor  # the fixed projection buffer (registered only for a non-trainable skip)

    def __init__(
        self,
        in_features: int,
        out_features: int,
        activation: str | Activation = "sigmoid",
        version: str = "bregman",
        skip: str = "simplex",
        trainable_skip: bool = False,
        eps: float = 1e-5,
        offset: str = "exact",
        bias: bool = True,
    ) -> None:
        super().__init__()
        for value, label in ((in_features, "in_features"), (out_features, "out_features")):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{label} must be a positive int, got {value!r}")
        check_choice(version, "version", VERSIONS)
        check_choice(skip, "skip", SKIPS)
        check_choice(offset, "offset", OFFSETS)
        check_positive(eps, "eps", strict=False)
        self.act = get_activation(activation)
        if self.act.bounded and not 2 * eps < self.act.hi - self.act.lo:
            raise ValueError(f"eps must be < (hi - lo) / 2 for {self.act.name}, got {eps}")
        self.in_features, self.out_features = in_features, out_features
        self.version, self.skip, self.eps, self.offset = version, skip, eps, offset
        self.trainable_skip = trainable_skip
        base = nn.Linear(in_features, out_features, bias=bias)  # PyTorch's default init
        self.weight = nn.Parameter(base.weight.detach().clone())
        self.bias = nn.Parameter(base.bias.detach().clone()) if bias else None
        self._inverse = self.act.offset(offset)
        self._guarded_inverse = self.act.clamped_inverse(offset, eps)  # clamp + offset (fused for sigmoid)
        self._sigma = self.act.sigma
        if offset == "official" and version != "bregman" and self.act.plain is not None:
            self._sigma = self.act.plain
        self.has_projection = version != "standard" and in_features != out_features
        if self.has_projection:
            if skip == "identity":
                raise ValueError(
                    f"skip='identity' needs in_features == out_features, got {in_features} -> {out_features}"
                )
            if skip == "mean":
                p = torch.full((out_features, in_features), 1.0 / in_features)
            else:
                p = project_simplex(nn.Linear(in_features, out_features, bias=False).weight.detach())
            if trainable_skip:
                self.skip_logits = nn.Parameter(torch.log(p.clamp_min(1e-6)))
            else:
                self.register_buffer("skip_weight", p)

    @property
    def projection(self) -> Tensor | None:
        """``P (out, in)`` (rows on the simplex), or ``None`` for the identity skip / standard layers."""
        if not self.has_projection:
            return None
        if self.trainable_skip:
            return torch.softmax(self.skip_logits, dim=1)
        return self.skip_weight

    def skip_map(self, x: Tensor) -> Tensor | None:
        """``P x`` (or ``x``): the previous representation in this layer's space; ``None`` if undefined."""
        projection = self.projection  # None exactly when not has_projection
        if projection is not None:
            return F.linear(x, projection)
        return x if self.in_features == self.out_features else None

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(
                f"x must have {self.in_features} features in its last dimension, got {tuple(x.shape)}"
            )
        pre = F.linear(x, self.weight, self.bias)
        if self.version == "standard":
            return self._sigma(pre)
        projection = self.projection  # None exactly when not has_projection
        skip = x if projection is None else F.linear(x, projection)
        if self.version == "euclidean":
            return self._sigma(pre + skip)
        return self._sigma(pre + self._guarded_inverse(skip))

    def extra_repr(self) -> str:
        return (
            f"{self.in_features}, {self.out_features}, activation={self.act.name}, version={self.version}, "
            f"skip={self.skip if self.has_projection else 'identity'}, eps={self.eps}, offset={self.offset}"
        )


class BregmanMLP(nn.Module):
    """An MLP of :class:`BregmanLinear` layers and a linear read-out: ``(B, input_dim) -> (B, output_dim)`` logits.

    Inputs ``(B, *)`` are flattened; for ``bregman`` nets they must lie in the closed range of the
    activation (rescale them with :func:`~ballroom.bregman.functional.scale_to_range`).
    ``init``: ``"random"`` (PyTorch's default ``nn.Linear`` init), ``"deterministic"`` (hidden
    ``W, b = 0`` — the identity ``V = I`` for ``standard`` — and read-out weights and bias
    ``1 / n_L``), ``"zero"`` (hidden ``W, b = 0``, read-out weight ``eye(output_dim, n_L)``, bias 0).
    Parameter names: ``layers.{i}.weight``, ``layers.{i}.bias``, ``layers.{i}.skip_weight``, ``output.*``.

    Args:
        input_dim: the flattened input width.
        hidden_dims: the widths of the hidden :class:`BregmanLinear` layers (non-empty).
        output_dim: the number of logits.
        activation: the activation of every hidden layer.
        version: ``"bregman"``, ``"euclidean"`` or ``"standard"`` (see :class:`BregmanLinear`).
        init: ``"random"``, ``"deterministic"`` or ``"zero"`` (above).
        skip: how each width-changing layer's ``P`` is initialised (see :class:`BregmanLinear`).
        trainable_skip: learn each ``P`` as a row softmax.
        eps: the clamp margin of every layer.
        offset: ``"exact"`` or ``"official"`` (see :class:`BregmanLinear`).
        check_inputs: validate inputs in ``forward`` (a tensor, finite, and for ``bregman`` inside the
            activation's range); ``False`` skips the checks (the feature count is still checked).
        fused_backward: while gradients are recorded, run the hidden stack as one autograd node
            with a hand-written backward (:mod:`~ballroom.bregman.fused`; same forward bit for bit,
            same gradients) when every layer allows it (``bregman`` version, exact offsets, fixed
            ``P``, an activation with hand-written derivatives, no module hooks, no autocast).
            It is once-differentiable: ``False`` keeps plain autograd (double backward).
        carry_preactivation: in that fused stack, a layer after the first whose skip is the
            identity (equal widths) uses ``clamp(z_{l-1}, sigma^{-1}(lo + eps), sigma^{-1}(hi - eps))``
            for ``sigma^{-1}(clamp(x_{l-1}, lo + eps, hi - eps))`` (equal in exact arithmetic,
            ``x_{l-1} = sigma(z_{l-1})``; see :func:`~ballroom.bregman.fused.bregman_stack`): no
            inverse is evaluated, and the forward agrees with the layer-by-layer one up to rounding
            instead of bit for bit (the stack then also runs without gradients, so a ``no_grad``
            forward gives the same values). ``False``: the explicit inverse (bitwise the
            layer-by-layer forward).

    Raises:
        ValueError: an unknown ``init``, bad widths, or a bad layer option.
    """

    def __init__(
        self,
        input_dim: int = 64,
        hidden_dims: Sequence[int] = (64, 64, 64),
        output_dim: int = 10,
        activation: str | Activation = "sigmoid",
        version: str = "bregman",
        init: str = "random",
        skip: str = "simplex",
        trainable_skip: bool = False,
        eps: float = 1e-5,
        offset: str = "exact",
        check_inputs: bool = True,
        fused_backward: bool = True,
        carry_preactivation: bool = True,
    ) -> None:
        super().__init__()
        check_choice(init, "init", INITS)
        self.fused_backward = bool(fused_backward)
        self.carry_preactivation = bool(carry_preactivation)
        hidden = list(hidden_dims)
        if not hidden or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
            raise ValueError(f"hidden_dims must be a non-empty list of positive ints, got {hidden_dims!r}")
        if isinstance(output_dim, bool) or not isinstance(output_dim, int) or output_dim < 1:
            raise ValueError(f"output_dim must be a positive int, got {output_dim!r}")
        self.input_dim, self.hidden_dims, self.output_dim = input_dim, hidden, output_dim
        self.version, self.init, self.check_inputs = version, init, check_inputs
        widths = [input_dim, *hidden]
        self.layers = nn.ModuleList(
            BregmanLinear(a, b, activation, version, skip, trainable_skip, eps, offset)
            for a, b in itertools.pairwise(widths)
        )
        self.act = cast(BregmanLinear, self.layers[0]).act
        self.output = nn.Linear(hidden[-1], output_dim)
        self._initialise(init)

    def _bregman_layers(self) -> Iterable[BregmanLinear]:
        """``self.layers`` (an ``nn.ModuleList`` of :class:`BregmanLinear`, built in ``__init__``) with its item type."""
        return cast("Iterable[BregmanLinear]", self.layers)

    @torch.no_grad()
    def _initialise(self, init: str) -> None:
        if init == "random":
            return
        for layer in self._bregman_layers():
            layer.weight.zero_()
            if layer.bias is not None:
                layer.bias.zero_()
            if init == "deterministic" and self.version == "standard":
                layer.weight.copy_(torch.eye(layer.out_features, layer.in_features))
        n_last = self.hidden_dims[-1]
        if init == "deterministic":
            self.output.weight.fill_(1.0 / n_last)
            self.output.bias.fill_(1.0 / n_last)
        else:
            self.output.weight.copy_(torch.eye(self.output_dim, n_last))
            self.output.bias.zero_()

    def _flat(self, x: Tensor) -> Tensor:
        if self.check_inputs:
            check_tensor(x, "x", min_ndim=2)
        x = x.flatten(1) if x.ndim > 2 else x
        if x.shape[1] != self.input_dim:
            raise ValueError(f"x must have {self.input_dim} features per sample, got shape {tuple(x.shape)}")
        if self.check_inputs and self.version == "bregman":
            check_in_range(
                x, "x", self.act.lo, self.act.hi,
                what=f"the range of activation {self.act.name!r}; rescale it with scale_to_range",
            )  # fmt: skip
        return x

    def forward_features(self, x: Tensor) -> list[Tensor]:
        """Representations ``[x_0, x_1, ..., x_L]``: the (flattened) input, then each hidden layer's ``(B, n_l)``."""
        feats = [self._flat(x)]
        for layer in self._bregman_layers():
            feats.append(layer(feats[-1]))
        return feats

    def skip_maps(self) -> list[Callable[[Tensor], Tensor | None]]:
        """For each hidden layer, the map of ``x_{l-1}`` into layer ``l``'s space (for :func:`layer_displacement`)."""
        return [layer.skip_map for layer in self._bregman_layers()]

    def _can_fuse(self, x: Tensor) -> bool:
        # carried stacks run without gradients too, so train and no-grad forwards are the same values
        wanted = torch.is_grad_enabled() or self.carry_preactivation
        if not (self.fused_backward and self.version == "bregman" and wanted):
            return False
        if x.ndim != 2 or _autocast_enabled(x.device.type):
            return False
        first = next(iter(self._bregman_layers()))
        return all(
            layer.version == "bregman" and layer.offset == "exact" and not layer.trainable_skip
            and supports_fused_backward(layer.act) and layer.act.name == first.act.name
            and layer.eps == first.eps and not (layer._forward_hooks or layer._forward_pre_hooks)
            for layer in self._bregman_layers()
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        x = self._flat(x)
        layers = list(self._bregman_layers())
        if self._can_fuse(x):
            x = _stack(
                x,
                [layer.weight for layer in layers],
                [layer.bias for layer in layers],
                [layer.projection for layer in layers],
                layers[0].act,
                layers[0].eps,
                self.carry_preactivation,
            )
        else:
            for layer in layers:
                x = layer(x)
        return self.output(x)


class _Displaceable(Protocol):
    """What :func:`layer_displacement` needs of a model (BregmanMLP and the Bregman ResNets have it)."""

    def forward_features(self, x: Tensor) -> list[Tensor]: ...

    def skip_maps(self) -> Sequence[Callable[[Tensor], Tensor | None]]: ...


@torch.no_grad()
def layer_displacement(model: nn.Module, x: Tensor) -> Tensor:
    """Per-layer mean squared displacement ``mean_b ||x_l - S_l(x_{l-1})||^2``, ``(L,)`` for ``L`` layers.

    ``model`` has ``forward_features(x) -> [x_0, ..., x_L]`` and ``skip_maps()`` (BregmanMLP and the
    Bregman ResNets); ``S_l`` is the identity at equal widths, else the layer's skip map (``P x``,
    the padded shortcut); ``NaN`` where a layer has none (a standard layer that changes width).
    """
    if not hasattr(model, "forward_features") or not hasattr(model, "skip_maps"):
        raise TypeError(f"model must have forward_features() and skip_maps(), got {type(model).__name__}")
    was_training = model.training
    model.eval()
    net = cast(_Displaceable, model)  # it has both methods (checked above)
    try:
        feats = net.forward_features(x)
        maps = net.skip_maps()
    finally:
        model.train(was_training)
    out = []
    for prev, cur, skip in zip(feats[:-1], feats[1:], maps):
        ref = prev if prev.shape == cur.shape else skip(prev)
        if ref is None or ref.shape != cur.shape:
            out.append(math.nan)
        else:
            out.append(float((cur - ref).flatten(1).pow(2).sum(1).mean()))
    return torch.tensor(out, dtype=torch.float64)
