"""Input validation for public entry points: one error style for every ballroom package.

Every check raises ``TypeError`` (wrong kind of object or dtype) or ``ValueError`` (wrong shape,
value or choice) with a message that starts with the argument's name and says what was expected and
what was given, so a user sees which input is wrong without reading the code::

    x = check_tensor(x, "x", ndim=3, dtype="floating")          # (B, N, D)
    check_same_size(("x", x, 0), ("labels", labels, 0))          # batch sizes agree
    k = check_int(k, "k", min=1)
    mode = check_choice(mode, "mode", ("soft", "hard"))

Checks return their (possibly converted) input so they can be used inline. They cost one
``isfinite().all()`` reduction at most (``finite=False`` skips it on hot paths). This module imports
only torch (numpy lazily, when an array is passed to :func:`as_tensor`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "as_tensor",
    "check_choice",
    "check_in_range",
    "check_int",
    "check_number",
    "check_positive",
    "check_probability",
    "check_same_size",
    "check_tensor",
]

DTypeSpec = str | torch.dtype | tuple[torch.dtype, ...] | None
_KINDS = ("floating", "integer", "bool", "complex", "numeric")


def _shape(x: Tensor) -> tuple[int, ...]:
    return tuple(x.shape)


def _dtype_ok(x: Tensor, dtype: DTypeSpec) -> tuple[bool, str]:
    if dtype is None:
        return True, ""
    if isinstance(dtype, torch.dtype):
        return x.dtype == dtype, str(dtype)
    if isinstance(dtype, tuple):
        return x.dtype in dtype, " or ".join(str(d) for d in dtype)
    if dtype == "floating":
        return x.is_floating_point(), "a floating-point dtype"
    if dtype == "integer":
        return (not x.is_floating_point() and not x.is_complex() and x.dtype != torch.bool), (
            "an integer dtype"
        )
    if dtype == "bool":
        return x.dtype == torch.bool, "torch.bool"
    if dtype == "complex":
        return x.is_complex(), "a complex dtype"
    if dtype == "numeric":
        return x.dtype != torch.bool, "a numeric (non-bool) dtype"
    raise ValueError(f"dtype must be a torch.dtype, a tuple of them or one of {list(_KINDS)}, got {dtype!r}")


def check_tensor(
    x: object,
    name: str,
    *,
    ndim: int | Sequence[int] | None = None,
    min_ndim: int | None = None,
    shape: Sequence[int | None] | None = None,
    dtype: DTypeSpec = "floating",
    finite: bool = True,
    nonempty: bool = True,
    device: torch.device | str | None = None,
) -> Tensor:
    """``x`` must be a ``torch.Tensor`` of the given rank, shape, dtype kind and device.

    Args:
        x: the value to check.
        name: the argument's name, used in the message.
        ndim: the allowed rank (or ranks).
        min_ndim: the smallest allowed rank.
        shape: the expected shape; ``None`` entries match any size, and a leading ``...`` is not
            supported (give ``ndim`` instead). A shape implies its rank.
        dtype: ``"floating"`` (default), ``"integer"``, ``"bool"``, ``"complex"``, ``"numeric"``, a
            ``torch.dtype``, a tuple of dtypes, or ``None`` for any.
        finite: refuse NaN and inf (floating and complex tensors only).
        nonempty: refuse tensors with no elements.
        device: the device ``x`` must be on (compared by type and, when given, index).

    Returns:
        ``x`` unchanged.

    Raises:
        TypeError: ``x`` is not a tensor or has the wrong dtype.
        ValueError: wrong rank, shape or device, empty, or not finite.
    """
    if not isinstance(x, Tensor):
        hint = " (convert it with torch.as_tensor)" if type(x).__module__.startswith("numpy") else ""
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}{hint}")
    ok, want = _dtype_ok(x, dtype)
    if not ok:
        raise TypeError(f"{name} must have {want}, got dtype {x.dtype}")
    if shape is not None:
        expect = tuple(shape)
        if x.ndim != len(expect) or any(e is not None and e != s for e, s in zip(expect, x.shape)):
            pretty = "(" + ", ".join("*" if e is None else str(e) for e in expect) + ")"
            raise ValueError(f"{name} must have shape {pretty}, got shape {_shape(x)}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            want_rank = " or ".join(str(a) for a in allowed)
            raise ValueError(f"{name} must have rank {want_rank}, got shape {_shape(x)}")
    if min_ndim is not None and x.ndim < min_ndim:
        raise ValueError(f"{name} must have rank >= {min_ndim}, got shape {_shape(x)}")
    if nonempty and x.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {_shape(x)}")
    if device is not None:
        want_dev = torch.device(device)
        if x.device.type != want_dev.type or (
            want_dev.index is not None and x.device.index != want_dev.index
        ):
            raise ValueError(f"{name} must be on device {want_dev}, got {x.device}")
    if finite and (x.is_floating_point() or x.is_complex()) and x.numel():
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"{name} must be finite, found NaN or inf")
    return x


def as_tensor(
    x: object,
    name: str,
    *,
    cast: torch.dtype | None = None,
    device: torch.device | str | None = None,
    **checks: Any,
) -> Tensor:
    """Convert a tensor, numpy array or nested sequence of numbers to a tensor, then check it.

    Integer and bool inputs stay integer/bool unless ``cast`` is given; ``cast`` converts after the
    dtype check has accepted the input's kind is numeric. Remaining keywords go to
    :func:`check_tensor` (``dtype`` defaults to ``"numeric"`` here when ``cast`` is given).

    Args:
        x: the value to convert: a tensor (used as is), a numpy array or a nested sequence of numbers.
        name: the argument's name, used in the messages.
        cast: the dtype to convert to after the kind check; ``None`` keeps the input's dtype.
        device: the device to move the tensor to; the moved tensor is then checked to be there.
        **checks: keywords for :func:`check_tensor` (``ndim``, ``shape``, ``dtype``, ``finite``, ...).

    Returns:
        The converted tensor, checked.

    Raises:
        TypeError: ``x`` is not array-like (a string, a dict, an object of another kind), or the
            checks of :func:`check_tensor` fail on its kind or dtype.
        ValueError: the checks of :func:`check_tensor` fail on rank, shape, size or finiteness.
    """
    if isinstance(x, Tensor):
        t = x
    elif isinstance(x, str | bytes | dict) or x is None:
        raise TypeError(f"{name} must be a tensor or an array of numbers, got {type(x).__name__}")
    else:
        try:
            t = torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(
                f"{name} must be a tensor or an array of numbers, got {type(x).__name__} ({err})"
            ) from None
    if cast is not None:
        checks.setdefault("dtype", "numeric")
        check_tensor(t, name, **{**checks, "finite": False, "device": None})
        t = t.to(dtype=cast)
        checks["dtype"] = None
    if device is not None:
        t = t.to(device)
    return check_tensor(t, name, device=device, **checks)


def check_same_size(*items: tuple[str, Tensor, int]) -> int:
    """Every ``(name, tensor, dim)`` has the same size along its ``dim``; returns that size.

    >>> check_same_size(("x", torch.zeros(4, 3), 0), ("y", torch.zeros(4), 0))
    4
    """
    if not items:
        raise ValueError("check_same_size needs at least one (name, tensor, dim) triple")
    sizes = [(n, t.shape[d], d) for n, t, d in items]
    first = sizes[0][1]
    if any(s != first for _, s, _ in sizes):
        listing = ", ".join(f"{n}.shape[{d}] = {s}" for n, s, d in sizes)
        raise ValueError(f"sizes must agree: {listing}")
    return int(first)


def check_number(
    value: object,
    name: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
    finite: bool = True,
) -> float:
    """``value`` must be a real number (a Python, numpy or 0-d tensor scalar; not a bool) in the
    interval from ``lo`` to ``hi`` (closed unless ``lo_open`` / ``hi_open``).

    Args:
        value: the value to check.
        name: the argument's name, used in the message.
        lo: the lower bound; ``None`` for none.
        hi: the upper bound; ``None`` for none.
        lo_open: exclude ``lo`` itself.
        hi_open: exclude ``hi`` itself.
        finite: refuse ``inf`` (NaN is refused either way).

    Returns:
        ``float(value)``.

    Raises:
        TypeError: ``value`` is not a real number (a bool, a string, a complex or a multi-element
            tensor).
        ValueError: ``value`` is NaN, infinite while ``finite``, or outside the interval.
    """
    if isinstance(value, Tensor) and value.numel() == 1 and not value.is_complex():
        value = value.item()
    if isinstance(value, bool) or not _is_real(value):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)  # type: ignore[arg-type]
    if math.isnan(v) or (finite and math.isinf(v)):
        raise ValueError(f"{name} must be a finite number, got {v}")
    below = lo is not None and (v <= lo if lo_open else v < lo)
    above = hi is not None and (v >= hi if hi_open else v > hi)
    if below or above:
        left = "(" if lo_open or lo is None else "["
        right = ")" if hi_open or hi is None else "]"
        lo_s = "-inf" if lo is None else f"{lo:g}"
        hi_s = "inf" if hi is None else f"{hi:g}"
        raise ValueError(f"{name} must lie in {left}{lo_s}, {hi_s}{right}, got {value!r}")
    return v


def _is_real(value: object) -> bool:
    if isinstance(value, int | float):
        return True
    kind = getattr(getattr(value, "dtype", None), "kind", None)  # numpy scalars
    return kind in ("i", "u", "f") and getattr(value, "ndim", 1) == 0


def check_positive(value: object, name: str, *, strict: bool = True) -> float:
    """``value`` must be a finite number ``> 0`` (``>= 0`` when not ``strict``).

    Args:
        value: the value to check.
        name: the argument's name, used in the message.
        strict: refuse ``0`` itself.

    Returns:
        ``float(value)``.

    Raises:
        TypeError: ``value`` is not a real number.
        ValueError: ``value`` is not finite or not positive.
    """
    return check_number(value, name, lo=0.0, lo_open=strict)


def check_probability(value: object, name: str, *, open_low: bool = False, open_high: bool = False) -> float:
    """``value`` must be a number in ``[0, 1]`` (ends open on request).

    Args:
        value: the value to check.
        name: the argument's name, used in the message.
        open_low: exclude ``0``.
        open_high: exclude ``1``.

    Returns:
        ``float(value)``.

    Raises:
        TypeError: ``value`` is not a real number.
        ValueError: ``value`` lies outside the interval.
    """
    return check_number(value, name, lo=0.0, hi=1.0, lo_open=open_low, hi_open=open_high)


def check_int(value: object, name: str, *, min: int | None = None, max: int | None = None) -> int:
    """``value`` must be an integer (Python, numpy or 0-d integer tensor; not a bool, not ``2.5``)
    in ``[min, max]``.

    Args:
        value: the value to check.
        name: the argument's name, used in the message.
        min: the smallest allowed value; ``None`` for no bound.
        max: the largest allowed value; ``None`` for no bound.

    Returns:
        ``int(value)``.

    Raises:
        TypeError: ``value`` is not an integer.
        ValueError: ``value`` lies outside ``[min, max]``.
    """
    if isinstance(value, Tensor) and value.numel() == 1 and not value.is_floating_point():
        value = value.item()
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    if isinstance(value, bool) or not (isinstance(value, int) or kind in ("i", "u")):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    v: int = int(value)  # type: ignore[call-overload]  # value: object is an int, integer numpy scalar or .item() here
    if (min is not None and v < min) or (max is not None and v > max):
        lo_s = "-inf" if min is None else str(min)
        hi_s = "inf" if max is None else str(max)
        left = "(" if min is None else "["
        right = ")" if max is None else "]"
        raise ValueError(f"{name} must be an integer in {left}{lo_s}, {hi_s}{right}, got {v}")
    return v


def check_choice(value: object, name: str, choices: Sequence[object]) -> Any:
    """``value`` must be one of ``choices``; returns it.

    Args:
        value: the value to check.
        name: the argument's name, used in the message.
        choices: the allowed values.

    Returns:
        ``value`` unchanged.

    Raises:
        ValueError: ``value`` is not in ``choices``.
    """
    if value not in tuple(choices):
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def check_in_range(
    x: Tensor, name: str, lo: float | None = None, hi: float | None = None, *, what: str = ""
) -> Tensor:
    """Every entry of tensor ``x`` must lie in ``[lo, hi]``.

    Args:
        x: the tensor to check, any shape.
        name: the argument's name, used in the message.
        lo: the lower bound; ``None`` for none.
        hi: the upper bound; ``None`` for none.
        what: names the domain in the message, e.g. ``"the range of sigmoid"``.

    Returns:
        ``x`` unchanged.

    Raises:
        ValueError: an entry lies outside ``[lo, hi]`` or (floating ``x``) is NaN.
    """
    lo_bad = lo is not None and bool((x < lo).any())
    hi_bad = hi is not None and bool((x > hi).any())
    if lo_bad or hi_bad or (x.is_floating_point() and bool(torch.isnan(x).any())):
        lo_s = "-inf" if lo is None else f"{lo:g}"
        hi_s = "inf" if hi is None else f"{hi:g}"
        where = f" ({what})" if what else ""
        got = f"values in [{float(x.min()):.4g}, {float(x.max()):.4g}]" if x.numel() else "no values"
        raise ValueError(f"{name} must lie in [{lo_s}, {hi_s}]{where}, got {got}")
    return x
