"""Factor-grid datasets: procedural Square and Arrow, supervision (labelled pairs, random paths),
and (re-exported from :mod:`ballroom.lsbd.loaders`) the loaders of external arrays (npz, h5,
the COIL-100 archive).

A :class:`FactorGrid` holds the images of every factor combination, ``images (N_1, ..., N_K, H, W, C)``
in ``[0, 1]``, with factor values ``0..N_k-1`` and their periods: a cyclic factor with period
``N_k`` has angle ``2 pi i / N_k``; a non-cyclic factor (the object of a cylinder dataset) has angle 0.
"""

from __future__ import annotations

import numpy as np

from ballroom.core.validate import check_int
from ballroom.lsbd.grid import FactorGrid
from ballroom.lsbd.loaders import COIL100_SHA256, COIL100_URLS, load_coil100, load_h5_grid, load_npz_grid

__all__ = [
    "COIL100_SHA256",
    "COIL100_URLS",
    "FactorGrid",
    "arrow_dataset",
    "labelled_pairs",
    "load_coil100",
    "load_h5_grid",
    "load_npz_grid",
    "random_paths",
    "square_dataset",
]


def square_dataset(size: int = 64, square: int = 16, step: int = 1) -> FactorGrid:
    """Square: a ``square x square`` block of ones rolled to every position (``step`` apart).

    ``images[i, j]`` has the block at rows ``i*step .. i*step+square-1`` and columns
    ``j*step ..`` (mod ``size``); ``(size/step, size/step, size, size, 1)``, both factors cyclic.
    """
    size = check_int(size, "size", min=1)
    square = check_int(square, "square", min=1, max=size)
    step = check_int(step, "step", min=1)
    if size % step:
        raise ValueError(f"step must divide size, got size={size}, step={step}")
    base = np.zeros((size, size), dtype=np.float32)
    base[:square, :square] = 1.0
    n = size // step
    imgs = np.empty((n, n, size, size, 1), dtype=np.float32)
    for i in range(n):
        row = np.roll(base, i * step, axis=0)
        for j in range(n):
            imgs[i, j, :, :, 0] = np.roll(row, j * step, axis=1)
    return FactorGrid(imgs, (True, True))


def _arrow(size: int, supersample: int = 4) -> np.ndarray:
    """An antialiased red arrow pointing right, centred, on black: ``(size, size, 3)``."""
    n = size * supersample
    c = (np.arange(n) + 0.5) / n * 2 - 1  # [-1, 1], y down
    yy, xx = np.meshgrid(c, c, indexing="ij")
    shaft = (xx > -0.6) & (xx < 0.15) & (np.abs(yy) < 0.12)
    head = (xx >= 0.15) & (xx < 0.6) & (np.abs(yy) < 0.35 * (0.6 - xx) / 0.45)
    mask = (shaft | head).astype(np.float64)
    mask = mask.reshape(size, supersample, size, supersample).mean(axis=(1, 3))
    img = np.zeros((size, size, 3))
    img[..., 0] = mask
    return img


def _rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    mx, mn = rgb.max(-1), rgb.min(-1)
    delta = mx - mn
    s = np.where(mx > 0, delta / np.where(mx > 0, mx, 1), 0.0)
    safe = np.where(delta > 0, delta, 1)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    h = np.where(mx == r, (g - b) / safe, np.where(mx == g, 2 + (b - r) / safe, 4 + (r - g) / safe))
    h = np.where(delta > 0, (h / 6) % 1.0, 0.0)
    return np.stack([h, s, mx], -1)


def _hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    i = np.floor(h * 6).astype(int) % 6
    f = h * 6 - np.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    table = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    out = np.zeros(hsv.shape)
    for k, (r, g, b) in enumerate(table):
        sel = i == k
        out[..., 0] = np.where(sel, r, out[..., 0])
        out[..., 1] = np.where(sel, g, out[..., 1])
        out[..., 2] = np.where(sel, b, out[..., 2])
    return out


def arrow_dataset(size: int = 64, n_rot: int = 64, n_hue: int = 64) -> FactorGrid:
    """Arrow: a red arrow rotated ``360 i / n_rot`` degrees (counter-clockwise on screen, spline
    order 3, no reshape, clipped to [0, 1]) with the hue of every pixel replaced by ``j / n_hue``;
    then ``imgs -= min(0, imgs.min()); imgs /= imgs.max()``. Shape ``(n_hue, n_rot, size, size, 3)``.
    """
    from scipy import ndimage

    size = check_int(size, "size", min=8)
    n_rot = check_int(n_rot, "n_rot", min=1)
    n_hue = check_int(n_hue, "n_hue", min=1)
    base = _arrow(size)
    imgs = np.empty((n_hue, n_rot, size, size, 3))
    for i in range(n_rot):
        rot = ndimage.rotate(base, 360 * i / n_rot, axes=(1, 0), reshape=False, mode="constant", cval=0.0)
        hsv = _rgb_to_hsv(np.clip(rot, 0.0, 1.0))
        for j in range(n_hue):
            hsv[..., 0] = j / n_hue
            imgs[j, i] = _hsv_to_rgb(hsv)
    imgs -= min(0.0, imgs.min())
    imgs /= imgs.max()
    return FactorGrid(imgs.astype(np.float32), (True, True))


def _rng(rng: int | np.random.RandomState | None) -> np.random.RandomState:
    return rng if isinstance(rng, np.random.RandomState) else np.random.RandomState(rng)


def labelled_pairs(
    grid: FactorGrid, n_pairs: int, rng: int | np.random.RandomState | None = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n_pairs`` disjoint random pairs; the other images are unlabelled.

    ``perm = RandomState(seed).permutation(N)``; pair ``l`` is ``(perm[l], perm[n_pairs + l])``.
    Returns ``(index (L, 2), angles (L, 2, K), unlabelled (N - 2L,))``: angles of the first view
    are 0, of the second ``2 pi ((value_2 - value_1) mod max) / max`` in ``[0, 2 pi)``.

    Args:
        grid: the factor grid.
        n_pairs: the number of labelled pairs, at most ``N // 2``.
        rng: a seed or a ``np.random.RandomState`` (used as is, so it advances).

    Raises:
        ValueError: ``n_pairs`` out of range.
    """
    n = int(np.prod(grid.factor_shape))
    n_pairs = check_int(n_pairs, "n_pairs", min=0, max=n // 2)
    perm = _rng(rng).permutation(n)
    index = np.stack([perm[:n_pairs], perm[n_pairs : 2 * n_pairs]], axis=1)
    angles = grid.relative_angles(index[:, :1], index)
    return index, angles, perm[2 * n_pairs :]


def random_paths(
    grid: FactorGrid,
    n_paths: int = 50,
    length: int = 100,
    step: int = 3,
    rng: int | np.random.RandomState | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Random walks: each step moves one random cyclic factor by ``+-step`` grid positions (cyclic).

    Returns ``(index (P, length), angles (P, length, K))``, labels relative to the first element.

    Args:
        grid: the factor grid (at least one cyclic factor).
        n_paths: the number of paths ``P``.
        length: the views per path.
        step: grid positions moved per step.
        rng: a seed or a ``np.random.RandomState`` (the start points and the moves).

    Raises:
        ValueError: a size below 1 or a grid without a cyclic factor.
    """
    n_paths = check_int(n_paths, "n_paths", min=1)
    length = check_int(length, "length", min=1)
    step = check_int(step, "step", min=1)
    r = _rng(rng)
    shape = np.array(grid.factor_shape)
    movable = np.flatnonzero(np.array(grid.cyclic))
    if movable.size == 0:
        raise ValueError("grid must have at least one cyclic factor for random paths")
    vals = np.empty((n_paths, length, len(shape)), dtype=np.int64)
    vals[:, 0] = np.stack([r.randint(0, s, n_paths) for s in shape], axis=1)
    for t in range(1, length):
        vals[:, t] = vals[:, t - 1]
        which = movable[r.randint(0, movable.size, n_paths)]
        sign = r.choice([-1, 1], n_paths)
        vals[np.arange(n_paths), t, which] += sign * step
        vals[:, t] %= shape
    index = np.asarray(
        np.ravel_multi_index(tuple(np.moveaxis(vals, -1, 0)), tuple(shape))
    )  # (n_paths, length)
    return index, grid.relative_angles(index[:, :1], index)
