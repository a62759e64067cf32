"""STIR: seeds, representation inversion (identically represented inputs) and the STIR score.

``STIR(m2 | m1, X, S) = (1/k) sum_draws S(r_m2(X), r_m2(X'))`` where ``X'`` are inputs that ``m1``
represents like ``X`` (IRIs), found from noise by the official normalised-gradient descent::

    x = x0
    for it in range(iterations):
        l_i = ||r(x_i) - t_i||_2 / ||t_i||_2             # also the best-tracking loss (before the step)
        g = grad(mean_i l_i, x);  g_i = g_i / (||g_i||_2 + 1e-10)
        x = clamp(x - step_size * g, 0, 1)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ballroom.core import metrics
from ballroom.core.validate import check_choice, check_int, check_number, check_positive, check_tensor
from ballroom.stir.nn import official_uses_fake_relu

__all__ = [
    "MEASURES",
    "SEEDS",
    "STIRResult",
    "invert_representation",
    "representations",
    "resolve_measure",
    "seed_images",
    "stir",
]

SEEDS = (
    "super-noise",
    "super-noise-same",
    "completely-random",
    "white",
    "black",
    "all_types",
    "mixed_inputs",
)
MEASURES: dict[str, Callable[[Tensor, Tensor], Any]] = {
    "linear_cka": metrics.linear_cka,
    "kernel_cka": metrics.rbf_cka,
    "rbf_cka": metrics.rbf_cka,
    "svcca": metrics.svcca,
    "pwcca": metrics.pwcca,
    "minibatch_cka": lambda x, y: metrics.minibatch_cka([x], [y]),
}
_OFFICIAL_NAMES = {
    "linear_CKA": "linear_cka",
    "kernel_CKA": "kernel_cka",
    "linear_CKA_batch": "minibatch_cka",
}


def seed_images(kind: str, like: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Start points of the inversion, shaped like ``like (n, *)``.

    ``"super-noise"``: i.i.d. ``N(0, 1)`` per pixel, not clipped; ``"super-noise-same"``: one ``N(0, 1)``
    image for all; ``"completely-random"``: one image of integers ``0..254`` / 255, shared;
    ``"white"`` (ones), ``"black"`` (zeros); ``"all_types"``: thirds super-noise-same / white / black
    (the remainder to the last); ``"mixed_inputs"``: ``like`` reversed along the batch.

    Args:
        kind: one of :data:`SEEDS` (above).
        like: ``(n, *)``: the targets whose shape, dtype and device the seeds take.
        generator: the random source of the noise kinds (``None``: torch's global RNG).

    Returns:
        ``(n, *)`` start points.

    Raises:
        ValueError: an unknown ``kind`` or an empty / 0-d ``like``.
    """
    check_choice(kind, "kind", SEEDS)
    check_tensor(like, "like", min_ndim=1)
    n, shape = like.shape[0], like.shape[1:]
    dtype, device = like.dtype, like.device

    def noise(*size: int) -> Tensor:
        return torch.randn((*size, *shape), generator=generator, dtype=dtype, device=device)

    if kind == "super-noise":
        return noise(n)
    if kind == "super-noise-same":
        return noise(1).expand(n, *shape).clone()
    if kind == "completely-random":
        img = torch.randint(0, 255, (1, *shape), generator=generator, device=like.device).to(like.dtype)
        return (img / 255.0).expand(n, *shape).clone()
    if kind == "white":
        return torch.ones_like(like)
    if kind == "black":
        return torch.zeros_like(like)
    if kind == "mixed_inputs":
        return like.flip(0).clone()
    third = n // 3
    parts = [noise(1).expand(third, *shape), torch.ones((third, *shape), dtype=dtype, device=device)]
    return torch.cat([*parts, torch.zeros((n - 2 * third, *shape), dtype=dtype, device=device)]).clone()


def _identity(x: Tensor) -> Tensor:
    return x


def _check_feature_model(model: Any) -> None:
    forward = getattr(model, "forward", model)
    try:
        params = inspect.signature(forward).parameters
    except (TypeError, ValueError):
        return
    if "with_latent" not in params and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        raise TypeError(
            f"model must follow the FeatureModel protocol: model(x, with_latent=True) -> (logits, rep); "
            f"{type(model).__name__} takes no with_latent (wrap it with HookedFeatureModel(model, layer=...))"
        )


def _rep(
    model: Any, x: Tensor, normalizer: Callable[[Tensor], Tensor] | None, layer: Any, fake: bool
) -> Tensor:
    out = model((normalizer or _identity)(x), with_latent=True, fake_relu=fake, layer=layer)
    if not isinstance(out, tuple) or len(out) != 2:
        raise TypeError(
            "model must follow the FeatureModel protocol: model(x, with_latent=True) -> (logits, rep)"
        )
    return out[1].flatten(1)


def _relative_l2(rep: Tensor, target: Tensor) -> Tensor:
    return (rep - target).norm(dim=1) / target.norm(dim=1)


def representations(
    model: Any, x: Tensor, *, normalizer: Callable[[Tensor], Tensor] | None = None, layer: Any = None
) -> Tensor:
    """``r_model(x)``: ``(n, *) -> (n, p)`` with the true ReLU, in eval mode, under ``inference_mode``.

    Args:
        model: a :class:`~ballroom.stir.nn.FeatureModel` (its mode is restored afterwards).
        x: ``(n, *)`` inputs, unnormalised.
        normalizer: applied to ``x`` before ``model``; ``None``: identity.
        layer: the representation's layer, passed to ``model`` (``None``: penultimate).

    Returns:
        ``(n, p)``: the flattened representations (an inference tensor, cloned).

    Raises:
        TypeError: ``model`` does not follow the FeatureModel protocol.
    """
    _check_feature_model(model)
    with _eval(model), torch.inference_mode():
        return _rep(model, x, normalizer, layer, False).clone()


class _eval:
    """Put a module in eval mode for a block (BatchNorm frozen, dropout off) and restore its mode."""

    def __init__(self, model: Any) -> None:
        self.model = model if isinstance(model, nn.Module) else None

    def __enter__(self) -> None:
        if self.model is not None:
            self.modes = [(m, m.training) for m in self.model.modules()]
            self.model.eval()

    def __exit__(self, *exc: object) -> None:
        if self.model is not None:
            for m, mode in self.modes:
                m.training = mode


def invert_representation(
    model: Any,
    x_target: Tensor,
    seed: str | Tensor,
    *,
    normalizer: Callable[[Tensor], Tensor] | None,
    layer: Any = None,
    loss: str = "relative_l2",
    step_size: float = 0.5,
    iterations: int = 1000,
    use_best: bool = True,
    fake_relu: bool = True,
    box: tuple[float, float] | None = (0.0, 1.0),
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Identically represented inputs: ``x'`` with ``r(x') ~= r(x_target)``, found from ``seed``.

    Args:
        model: a :class:`~ballroom.stir.nn.FeatureModel` (put in eval mode for the call).
        x_target: the inputs ``X (n, *)``, unnormalised in ``[0, 1]``.
        seed: a seed kind of :func:`seed_images` or the start points ``(n, *)`` themselves.
        normalizer: applied before ``model`` (its clamp included); ``None``: identity.
        layer: the representation's layer, passed to ``model`` (``None``: penultimate).
        loss: ``"relative_l2"``: ``||r(x) - t||_2 / ||t||_2`` per sample (not squared).
        step_size: the L2 length of each per-sample step (absolute pixel units; 0.5 for 3x32x32).
        iterations: number of steps (0 returns the seed).
        use_best: return, per sample, the iterate of lowest loss (strict improvement only).
        fake_relu: make the representation's ReLU a fake ReLU during the optimisation.
        box: the projection after each step; ``None`` disables it (for exact linear checks only).
        generator: random source for a seed kind.

    Returns:
        ``(x_prime (n, *), rel_err (n,))``: the IRIs and their per-sample loss.
    """
    check_tensor(x_target, "x_target", min_ndim=2)
    check_choice(loss, "loss", ("relative_l2",))
    _check_feature_model(model)
    step = check_positive(step_size, "step_size")
    iters = check_int(iterations, "iterations", min=0)
    if isinstance(seed, str):
        x0 = seed_images(seed, x_target, generator)
    else:
        check_tensor(seed, "seed", shape=tuple(x_target.shape))
        x0 = seed.to(x_target)
    if box is not None:
        lo, hi = check_number(box[0], "box[0]"), check_number(box[1], "box[1]")
    with _eval(model):
        with torch.no_grad():
            target = _rep(model, x_target, normalizer, layer, False).detach()
        if not bool((target.norm(dim=1) > 0).all()):
            raise ValueError(
                "x_target has a sample whose representation is zero: the relative L2 loss is undefined"
            )
        x = x0.detach().clone()
        best_x, best_loss = x.clone(), None
        view = (-1,) + (1,) * (x.ndim - 1)
        for _ in range(iters):
            x.requires_grad_(True)
            losses = _relative_l2(_rep(model, x, normalizer, layer, fake_relu), target)
            (g,) = torch.autograd.grad(losses.mean(), x)
            with torch.no_grad():
                best_x, best_loss = _replace_best(losses.detach(), best_loss, x.detach(), best_x, use_best)
                g_norm = g.flatten(1).norm(dim=1).view(view)
                x = x.detach() - step * (g / (g_norm + 1e-10))
                if box is not None:
                    x = x.clamp(lo, hi)
        with torch.no_grad():
            losses = _relative_l2(_rep(model, x, normalizer, layer, fake_relu), target)
            best_x, best_loss = _replace_best(losses, best_loss, x, best_x, use_best)
    return best_x.detach(), best_loss.detach()


def _replace_best(
    loss: Tensor, best_loss: Tensor | None, x: Tensor, best_x: Tensor, use_best: bool
) -> tuple[Tensor, Tensor]:
    if best_loss is None or not use_best:
        return x.clone(), loss.clone()
    better = loss < best_loss
    view = (-1,) + (1,) * (x.ndim - 1)
    return torch.where(better.view(view), x, best_x), torch.where(better, loss, best_loss)


@dataclass(frozen=True)
class STIRResult:
    """``m1m2 = STIR(m1|m2)`` (IRIs of m2, measured on m1), ``m2m1 = STIR(m2|m1)`` (IRIs of m1,
    measured on m2), ``rsm = S(r_m1(X), r_m2(X))``; ``rel_err1``/``rel_err2``: mean relative L2 error
    of the IRIs made for m1 / m2 (how well the inversion worked)."""

    m1m2: float
    m2m1: float
    rsm: float
    rel_err1: float = field(default=float("nan"))
    rel_err2: float = field(default=float("nan"))


def resolve_measure(measure: str | Callable[..., Any]) -> Callable[[Tensor, Tensor], float]:
    """A measure by name (``linear_cka``, ``kernel_cka``/``rbf_cka``, ``svcca``, ``pwcca``,
    ``minibatch_cka``, or the official names ``linear_CKA``, ``kernel_CKA``, ``linear_CKA_batch``) or
    any callable ``(X (n, d1), Y (n, d2)) -> float``."""
    if callable(measure):
        fn = measure
    elif isinstance(measure, str):
        name = _OFFICIAL_NAMES.get(measure, measure)
        check_choice(name, "measure", sorted(MEASURES) + sorted(_OFFICIAL_NAMES))
        fn = MEASURES[name]
    else:
        raise TypeError(f"measure must be a measure name or a callable, got {type(measure).__name__}")
    return lambda x, y: float(fn(x, y))


def _batched(x: Tensor, batch_size: int | None) -> list[Tensor]:
    return [x] if batch_size is None else list(x.split(batch_size))


def stir(
    m1: Any,
    m2: Any,
    X: Tensor,
    *,
    normalizer1: Callable[[Tensor], Tensor] | None,
    normalizer2: Callable[[Tensor], Tensor] | None,
    measure: str | Callable[..., Any] = "linear_cka",
    seed: str = "super-noise",
    n_draws: int = 1,
    batch_size: int | None = None,
    layer1: Any = None,
    layer2: Any = None,
    generator: torch.Generator | None = None,
    **inv_kw: Any,
) -> STIRResult:
    """STIR in both directions and the plain similarity, for feature models ``m1``, ``m2`` on ``X (n, *)``.

    ``m2m1 = STIR(m2|m1)``: IRIs made for ``m1``, similarity of ``m2``'s representations of ``X`` and
    of the IRIs; ``m1m2`` the other way. ``n_draws`` seeds are averaged (official: 1). With
    ``batch_size`` the inversion runs batch by batch, and the measure is computed on the concatenated
    representations (``minibatch_cka`` on the batches). ``fake_relu`` defaults to the official rule
    per model (:func:`~ballroom.stir.nn.official_uses_fake_relu`); other ``inv_kw`` go to
    :func:`invert_representation` (``step_size``, ``iterations``, ``use_best``, ``box``).

    Args:
        m1: the first feature model.
        m2: the second feature model.
        X: ``(n, *)`` inputs, unnormalised in ``[0, 1]``.
        normalizer1: ``m1``'s input normaliser (``None``: identity).
        normalizer2: ``m2``'s input normaliser (``None``: identity).
        measure: the similarity ``S``, a name or a callable (see :func:`resolve_measure`).
        seed: the seed kind of the inversion (one of :data:`SEEDS`).
        n_draws: the number of seed draws averaged (>= 1).
        batch_size: invert and represent in batches of this size (``None``: all at once).
        layer1: ``m1``'s representation layer (``None``: penultimate).
        layer2: ``m2``'s representation layer.
        generator: the random source of the seeds.
        **inv_kw: keyword arguments of :func:`invert_representation` (``fake_relu`` included).

    Returns:
        A :class:`STIRResult`.

    Raises:
        ValueError: a bad ``X``, ``n_draws``, ``batch_size``, ``seed`` or ``measure``.
    """
    check_tensor(X, "X", min_ndim=2)
    draws = check_int(n_draws, "n_draws", min=1)
    if batch_size is not None:
        check_int(batch_size, "batch_size", min=1)
    check_choice(seed, "seed", SEEDS)
    minibatch = measure in ("minibatch_cka", "linear_CKA_batch")
    S = resolve_measure(measure)
    fake = inv_kw.pop("fake_relu", None)

    def sim(a: Tensor, b: Tensor) -> float:
        if minibatch and batch_size is not None:
            return float(metrics.minibatch_cka(_batched(a, batch_size), _batched(b, batch_size)))
        return S(a, b)

    def iris(m: Any, norm: Any, layer: Any) -> tuple[Tensor, float]:
        x0 = seed_images(seed, X, generator)  # for the whole set, so batching does not change seeds
        use_fake = official_uses_fake_relu(m) if fake is None and isinstance(m, nn.Module) else bool(fake)
        outs = [
            invert_representation(m, xb, sb, normalizer=norm, layer=layer, fake_relu=use_fake, **inv_kw)
            for xb, sb in zip(_batched(X, batch_size), _batched(x0, batch_size))
        ]
        return torch.cat([o[0] for o in outs]), float(torch.cat([o[1] for o in outs]).mean())

    def reps(m: Any, x: Tensor, norm: Any, layer: Any) -> Tensor:
        return torch.cat(
            [representations(m, xb, normalizer=norm, layer=layer) for xb in _batched(x, batch_size)]
        )

    r1, r2 = reps(m1, X, normalizer1, layer1), reps(m2, X, normalizer2, layer2)
    m2m1 = m1m2 = err1 = err2 = 0.0
    for _ in range(draws):
        x1, e1 = iris(m1, normalizer1, layer1)
        m2m1 += sim(r2, reps(m2, x1, normalizer2, layer2))
        x2, e2 = iris(m2, normalizer2, layer2)
        m1m2 += sim(r1, reps(m1, x2, normalizer1, layer1))
        err1, err2 = err1 + e1, err2 + e2
    return STIRResult(m1m2 / draws, m2m1 / draws, sim(r1, r2), err1 / draws, err2 / draws)
