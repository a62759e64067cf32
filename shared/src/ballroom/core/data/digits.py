"""scikit-learn's bundled 8x8 digits as image tensors, and a seeded rotated variant.

The offline stand-ins for MNIST and rotated MNIST: the 1797 digits ship inside scikit-learn, so
nothing is downloaded. Pipeline: pixel values ``/16`` into ``[0, 1]`` -> optional bilinear resize
-> zero padding -> optional rotation (background stays 0) -> standardisation with the *training*
split's mean and standard deviation.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import TensorDataset

from ballroom.core.data._base import SplitDataModule, split_indices
from ballroom.core.validate import check_tensor

__all__ = [
    "DigitsDataModule",
    "RotatedDigitsDataModule",
    "load_digits_images",
    "render_digits",
    "rotate_images",
]

_SPLITS = ("train", "val", "test")


def load_digits_images(size: int | None = None, pad: int = 0) -> tuple[Tensor, Tensor]:
    """All 1797 digits as ``(images (1797, 1, S, S) float32 in [0, 1], labels (1797,) int64)``.

    ``size`` is the final side ``S`` (default 8, the native size); the digit is resized bilinearly
    to ``size - 2 * pad`` pixels and then padded with ``pad`` zero pixels on every side (e.g.
    ``size=28, pad=2``: a 24x24 digit on a 28x28 canvas, as MNIST centres a 20x20 digit).
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.as_tensor(bunch.target, dtype=torch.int64)
    side = 8 if size is None else int(size)
    if pad < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")
    inner = side - 2 * pad
    if inner < 2:
        raise ValueError(f"size - 2 * pad must be >= 2 pixels, got size={side}, pad={pad}")
    if inner != 8:
        images = F.interpolate(images, size=(inner, inner), mode="bilinear", align_corners=False)
        images = images.clamp_(0.0, 1.0)
    if pad:
        images = F.pad(images, (pad, pad, pad, pad))
    return images.contiguous(), labels


def rotate_images(images: Tensor, angles: Tensor | float) -> Tensor:
    """Rotate square images counter-clockwise (as displayed, row 0 on top) about their centre.

    ``images (N, C, S, S)``, ``angles`` in radians, a scalar or ``(N,)``. Multiples of ``pi/2`` are
    exact pixel permutations (``torch.rot90``); other angles use bilinear interpolation with zero
    fill outside the canvas (angles within float rounding of a right angle count as
    right angles). Returns ``(N, C, S, S)`` of the input dtype.
    """
    check_tensor(images, "images", ndim=4, nonempty=False)
    if images.shape[-1] != images.shape[-2]:
        raise ValueError(f"images must have shape (N, C, S, S) with square S x S, got {tuple(images.shape)}")
    if not images.is_floating_point():
        raise TypeError(f"images must be floating point, got {images.dtype}")
    n = images.shape[0]
    # an angle within rounding of a multiple of pi/2 (for the dtype it came in) takes the exact path
    tol = 1e-6 if isinstance(angles, Tensor) and angles.dtype != torch.float64 else 1e-9
    angles = torch.as_tensor(angles, dtype=torch.float64).flatten()
    if angles.numel() == 1:
        angles = angles.expand(n)
    if angles.numel() != n:
        raise ValueError(f"need one angle per image: {n} images, {angles.numel()} angles")
    if not bool(torch.isfinite(angles).all()):
        raise ValueError("angles must be finite")
    quarter = angles / (math.pi / 2)
    k = torch.round(quarter)
    exact = (quarter - k).abs() < tol
    out = torch.empty_like(images)
    if bool(exact.any()):
        for q in range(4):
            sel = exact & (torch.remainder(k, 4) == q)
            if bool(sel.any()):
                idx = sel.nonzero().squeeze(1).to(images.device)
                out[idx] = torch.rot90(images[idx], q, dims=(-2, -1))
    if not bool(exact.all()):
        idx = (~exact).nonzero().squeeze(1)
        theta = angles[idx]
        cos, sin = torch.cos(theta), torch.sin(theta)
        # Output pixel p samples the input at R(-theta) p in grid coordinates (x right, y down);
        # with y pointing down this turns the displayed image counter-clockwise by theta.
        affine = torch.stack(
            [
                torch.stack([cos, -sin, torch.zeros_like(cos)], 1),
                torch.stack([sin, cos, torch.zeros_like(cos)], 1),
            ],
            1,
        ).to(device=images.device, dtype=images.dtype)
        sub = images[idx.to(images.device)]
        grid = F.affine_grid(affine, list(sub.shape), align_corners=False)
        out[idx.to(images.device)] = F.grid_sample(
            sub, grid, mode="bilinear", padding_mode="zeros", align_corners=False
        )
    return out


def _rotation_affine(angles: Tensor) -> Tensor:
    """``(N, 2, 2)`` float64 sampling matrices of :func:`rotate_images`' convention (counter-clockwise as displayed)."""
    cos, sin = torch.cos(angles), torch.sin(angles)
    return torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)


def render_digits(images: Tensor, angles: Tensor | float, size: int = 28, pad: int = 2) -> Tensor:
    """Resize, pad and rotate small images in **one** bilinear resampling.

    ``images (N, C, s, s)`` in ``[0, 1]`` (e.g. the native 8x8 digits), ``angles`` in radians (scalar or
    ``(N,)``). The result equals ``rotate_images(pad(resize(images, size - 2 pad)), angles)`` of the
    continuous bilinear image, but sampled once: at angle 0 it is exactly the resized and zero-padded
    image of :func:`load_digits_images`, and rotated copies carry no second interpolation blur, so
    upright and rotated images are equally sharp. Returns ``(N, C, size, size)`` float32 in ``[0, 1]``.
    """
    check_tensor(images, "images", ndim=4, nonempty=False)
    if images.shape[-1] != images.shape[-2]:
        raise ValueError(f"images must have shape (N, C, s, s), got {tuple(images.shape)}")
    inner = size - 2 * pad
    if pad < 0 or inner < 2:
        raise ValueError(f"need pad >= 0 and size - 2 * pad >= 2, got size={size}, pad={pad}")
    n = images.shape[0]
    angles = torch.as_tensor(angles, dtype=torch.float64).flatten()
    if angles.numel() == 1:
        angles = angles.expand(n)
    if angles.numel() != n or not bool(torch.isfinite(angles).all()):
        raise ValueError(f"need one finite angle per image: {n} images, {angles.numel()} angles")
    if n == 0:
        return torch.zeros(0, images.shape[1], size, size)
    # canvas coordinates (normalised to the canvas) -> rotated -> normalised to the digit's box
    affine = torch.zeros(n, 2, 3, dtype=torch.float64)
    affine[:, :, :2] = _rotation_affine(angles) * (size / inner)
    grid = F.affine_grid(affine, [n, images.shape[1], size, size], align_corners=False)
    box = (grid.abs() <= 1.0).all(dim=-1).unsqueeze(1)  # inside the resized digit's square
    out = F.grid_sample(images.double(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return (out * box).clamp_(0.0, 1.0).to(torch.float32)


class DigitsDataModule(SplitDataModule[TensorDataset]):
    """scikit-learn digits as ``(x (B, 1, S, S) float32, y (B,) int64)`` batches with a fixed seeded split.

    Args:
        size: image side ``S`` (default 8); 16, 28 or 32 are the usual choices.
        pad: zero border inside ``size`` (the digit is resized to ``size - 2 * pad``).
        normalize: standardise with the training split's pixel mean and std (stored as ``mean``/``std``).
        split: fractions (summing to 1) or counts (summing to 1797) for train/val/test.
        batch_size, num_workers, seed: loader settings; ``seed`` fixes the split and the shuffling.
    """

    num_classes = 10

    def __init__(
        self,
        size: int | None = None,
        pad: int = 0,
        normalize: bool = True,
        split: tuple[float, float, float] | tuple[int, int, int] = (0.7, 0.1, 0.2),
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        if len(split) != 3:
            raise ValueError(f"split must give three sizes (train, val, test), got {split}")
        self.size = size
        self.pad = pad
        self.normalize = normalize
        self.split = tuple(split)
        self.mean = 0.0
        self.std = 1.0
        self.indices: dict[str, Tensor] = {}

    def _transform(self, images: Tensor, split: str) -> Tensor:
        """Hook for subclasses: applied to each split's images before standardisation."""
        return images

    def build(self) -> dict[str, TensorDataset]:
        images, labels = load_digits_images(self.size, self.pad)
        parts = split_indices(len(labels), self.split, seed=self.seed)
        self.indices = dict(zip(_SPLITS, parts))
        xs = {s: self._transform(images[i], s) for s, i in self.indices.items()}
        if self.normalize:
            self.mean = float(xs["train"].mean())
            self.std = float(xs["train"].std())
            xs = {s: (x - self.mean) / self.std for s, x in xs.items()}
        return {s: TensorDataset(xs[s], labels[i]) for s, i in self.indices.items()}


class RotatedDigitsDataModule(DigitsDataModule):
    """Digits, each rotated by its own uniformly random angle: the offline stand-in for rotated MNIST.

    Angles are drawn uniformly from ``[0, 2 pi)`` with a generator seeded by ``seed`` (one stream per
    split) and kept in ``self.angles[split]`` (radians). ``rotate="all"`` rotates every split (the
    MNIST-rot protocol); ``rotate="test"`` rotates only the test split (train upright, test rotated).
    Default size 28 with a 24-pixel digit (``pad=2``): rotation keeps the digit inside the canvas.
    ``single_resample=True`` renders every image (rotated or upright) from the 8x8 source in one
    bilinear resampling (:func:`render_digits`), so rotated images are exactly as sharp as upright
    ones; the default resizes first and rotates the resized image (two interpolations).

    Args:
        size: image side ``S`` (``None``: the 8x8 source size).
        pad: zero border inside ``size`` (the digit is resized to ``size - 2 * pad``).
        normalize: standardise with the training split's pixel mean and std (after rotation).
        rotate: ``"all"`` or ``"test"`` (above).
        split: fractions (summing to 1) or counts (summing to 1797) for train/val/test.
        batch_size: the batch size of every dataloader.
        num_workers: dataloader worker processes (0: load in the main process).
        seed: fixes the split, the angles and the shuffling.
        single_resample: render from the 8x8 source in one resampling (above; needs ``size``).

    Raises:
        ValueError: an unknown ``rotate``, ``single_resample`` without ``size``, or a bad ``split``.
    """

    def __init__(
        self,
        size: int | None = 28,
        pad: int = 2,
        normalize: bool = True,
        rotate: Literal["all", "test"] = "all",
        split: tuple[float, float, float] | tuple[int, int, int] = (0.7, 0.1, 0.2),
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
        single_resample: bool = False,
    ) -> None:
        super().__init__(size, pad, normalize, split, batch_size, num_workers, seed)
        if rotate not in ("all", "test"):
            raise ValueError(f"rotate must be 'all' or 'test', got {rotate!r}")
        if single_resample and size is None:
            raise ValueError("single_resample needs an explicit size")
        self.rotate = rotate
        self.single_resample = single_resample
        self.angles: dict[str, Tensor] = {}
        self._source: Tensor | None = None

    def _angles(self, n: int, split: str) -> Tensor:
        if self.rotate == "test" and split != "test":
            return torch.zeros(n, dtype=torch.float64)
        gen = torch.Generator().manual_seed(self.seed * 1009 + 17 * (_SPLITS.index(split) + 1))
        return torch.rand(n, generator=gen, dtype=torch.float64) * (2 * math.pi)

    def build(self) -> dict[str, TensorDataset]:
        if self.single_resample:
            self._source, _ = load_digits_images(None, 0)
        return super().build()

    def _transform(self, images: Tensor, split: str) -> Tensor:
        angles = self._angles(len(images), split)
        self.angles[split] = angles
        if self.single_resample:
            assert self._source is not None and self.size is not None
            return render_digits(self._source[self.indices[split]], angles, self.size, self.pad)
        if self.rotate == "test" and split != "test":
            return images
        return rotate_images(images, angles)
