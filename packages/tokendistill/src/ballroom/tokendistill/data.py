"""DataModules for STD: digits with a labelled subset (offline), CIFAR-10/100 through core, ImageNet folders.

Training batches are ``(x (B, C, H, W) float32, y (B,) int64, labeled_mask (B,) bool)``: the class
head's cross-entropy uses only the labelled samples, distillation every sample. Validation and test
batches have every label. Train-time augmentation (random shift, i.e. pad + random crop, and for
CIFAR/ImageNet a horizontal flip) runs batched in ``on_after_batch_transfer``, from torch's seeded
global generator.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset, TensorDataset

from ballroom.core.data import SplitDataModule, VisionDataModule, load_digits_images
from ballroom.core.validate import check_int, check_tensor

__all__ = [
    "DigitsDistillDataModule",
    "ImageFolderDataModule",
    "LabeledMaskDataset",
    "STDVisionDataModule",
    "random_shift",
    "stratified_split",
]


def stratified_split(labels: Tensor, sizes: Sequence[int], seed: int = 0) -> list[Tensor]:
    """Disjoint index sets with (as nearly as possible) equal class proportions; seeded.

    ``sizes`` are counts summing to ``len(labels)``. Each class's samples are shuffled and dealt to
    the parts in proportion (largest remainders), then each part is sorted.

    Args:
        labels: ``(n,)`` integer class labels.
        sizes: the parts' sizes, non-negative, summing to ``n``.
        seed: seed of the shuffle.

    Returns:
        one sorted int64 index tensor per part.
    """
    check_tensor(labels, "labels", ndim=1, dtype="integer")
    if sum(sizes) != len(labels) or any(s < 0 for s in sizes):
        raise ValueError(f"sizes must be non-negative counts summing to {len(labels)}, got {list(sizes)}")
    gen = torch.Generator().manual_seed(seed)
    order = torch.cat([(labels == c).nonzero().squeeze(1)[torch.randperm(int((labels == c).sum()), generator=gen)]
                       for c in labels.unique()])  # fmt: skip
    # deal the class-sorted order to the parts, each step to the part furthest below its quota
    n, k = len(labels), len(sizes)
    quota = [float(v) / n for v in sizes]
    counts = [0] * k
    assigned = []
    for j in range(n):
        i = max(range(k), key=lambda c: quota[c] * (j + 1) - counts[c])
        assigned.append(i)
        counts[i] += 1
    part_of = torch.tensor(assigned, dtype=torch.long)
    parts = [order[part_of == i].sort().values for i in range(k)]
    return parts


def random_shift(
    x: Tensor, pad: int = 1, generator: torch.Generator | None = None, fill: float = 0.0
) -> Tensor:
    """Shift every image by a random ``(dy, dx)`` in ``[-pad, pad]^2`` (pad with ``fill`` + random crop).

    ``(B, C, H, W) -> (B, C, H, W)``; one gather, no loop over samples.

    Args:
        x: images ``(B, C, H, W)``.
        pad: the largest shift in pixels (0: ``x`` unchanged).
        generator: the CPU ``torch.Generator`` of the offsets (default: the global one).
        fill: the value of the pixels shifted in.
    """
    check_tensor(x, "x", ndim=4, finite=False, nonempty=False)
    check_int(pad, "pad", min=0)
    if pad == 0 or x.shape[0] == 0:
        return x
    b, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), value=fill)
    off = torch.randint(0, 2 * pad + 1, (2, b), generator=generator).to(x.device)
    rows = (torch.arange(h, device=x.device)[None] + off[0][:, None])[:, None, :, None]  # (B, 1, H, 1)
    cols = (torch.arange(w, device=x.device)[None] + off[1][:, None])[:, None, None, :]  # (B, 1, 1, W)
    bi = torch.arange(b, device=x.device)[:, None, None, None]
    ci = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[bi, ci, rows, cols]


class LabeledMaskDataset(Dataset):
    """``(x, y)`` pairs of ``base`` plus a fixed ``labeled`` flag per index: ``(x, y, mask)``.

    Args:
        base: a dataset of ``(x, y, ...)`` items.
        labeled: ``(len(base),)`` flags; default every sample labelled.
    """

    def __init__(self, base: Dataset, labeled: Tensor | None = None) -> None:
        self.base = base
        n = len(base)  # type: ignore[arg-type]
        self.labeled = torch.ones(n, dtype=torch.bool) if labeled is None else labeled.to(torch.bool)
        if len(self.labeled) != n:
            raise ValueError(f"labeled must have one flag per sample ({n}), got {len(self.labeled)}")

    def __len__(self) -> int:
        return len(self.labeled)

    def __getitem__(self, i: int) -> tuple[Any, ...]:
        x, y = self.base[i][:2]
        return x, y, self.labeled[i]


class _AugmentMixin:
    shift: int
    flip: bool
    trainer: Any
    fill: float = 0.0  # the padding value of the shift (the digits' standardised background)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        trainer = getattr(self, "trainer", None)
        if trainer is None or not trainer.training or (self.shift == 0 and not self.flip):
            return batch
        x, *rest = batch
        x = random_shift(x, self.shift, fill=self.fill)
        if self.flip:
            do = torch.rand(x.shape[0]) < 0.5
            x = torch.where(do.to(x.device)[:, None, None, None], x.flip(-1), x)
        return (x, *rest)


class DigitsDistillDataModule(_AugmentMixin, SplitDataModule):
    """scikit-learn's 8x8 digits for the spec's offline protocol (shipped with scikit-learn, no download).

    Pixels ``/16``, optionally resized to ``size``, standardised with the pool's scalar mean and std;
    a stratified ``pool`` / test split (1257 / 540 for ``test_fraction=0.3``); ``labeled`` pool images
    (stratified, seeded) carry their labels. ``train_on="pool"``: the whole pool, with
    ``labeled_mask`` marking the labelled ones (STD, kd_head); ``"labeled"``: only the labelled
    images (the ``base`` variant); ``labeled=None``: every pool image labelled (the teacher).
    Validation is the test split (no model selection is made on it). Training images are shifted by
    up to ``shift`` pixels, padded with the background value.

    Args:
        labeled: labelled pool images (``None``: all).
        train_on: ``"pool"`` or ``"labeled"`` (see above).
        test_fraction: share of the 1797 images held out for test, in ``(0, 1)``.
        size: resize the 8x8 images to ``size x size`` (default: keep 8x8).
        shift: largest train-time shift in pixels.
        batch_size: of every loader.
        num_workers: of every loader.
        seed: of the splits (the labelled subset uses ``seed + 1``).
    """

    num_classes = 10

    def __init__(
        self,
        labeled: int | None = 300,
        train_on: Literal["pool", "labeled"] = "pool",
        test_fraction: float = 0.3,
        size: int | None = None,
        shift: int = 1,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        if train_on not in ("pool", "labeled"):
            raise ValueError(f"train_on must be 'pool' or 'labeled', got {train_on!r}")
        if not 0 < test_fraction < 1:
            raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
        if labeled is not None:
            check_int(labeled, "labeled", min=1)
        check_int(shift, "shift", min=0)
        self.labeled, self.train_on, self.test_fraction = labeled, train_on, test_fraction
        self.size, self.shift, self.flip = size, shift, False

    def build(self) -> dict[str, Dataset]:
        images, labels = load_digits_images(self.size)
        n_test = math.ceil(len(labels) * self.test_fraction)  # as scikit-learn's train_test_split
        pool, test = stratified_split(labels, [len(labels) - n_test, n_test], seed=self.seed)
        if self.labeled is not None and self.labeled > len(pool):
            raise ValueError(f"labeled must be <= the pool size {len(pool)}, got {self.labeled}")
        mask = torch.ones(len(pool), dtype=torch.bool)
        if self.labeled is not None:
            lab, _ = stratified_split(
                labels[pool], [self.labeled, len(pool) - self.labeled], seed=self.seed + 1
            )
            mask = torch.zeros(len(pool), dtype=torch.bool)
            mask[lab] = True
        mean, std = images[pool].mean(), images[pool].std()
        x = (images - mean) / std
        self.fill = float(-mean / std)  # the background (pixel 0) after standardisation
        train_idx = pool if self.train_on == "pool" else pool[mask]
        train_mask = mask if self.train_on == "pool" else torch.ones(int(mask.sum()), dtype=torch.bool)
        test_set = TensorDataset(x[test], labels[test])
        return {
            "train": TensorDataset(x[train_idx], labels[train_idx], train_mask),
            "val": test_set,
            "test": test_set,
        }


class STDVisionDataModule(_AugmentMixin, VisionDataModule):
    """CIFAR-10/100 (or MNIST) through core's :class:`~ballroom.core.data.VisionDataModule` (checksummed
    download only with ``download=True``), with ``labeled_mask`` (the first ``labeled`` training images
    of a seeded order, or all) and random-crop (``shift`` pixels) + flip augmentation.

    Args:
        name: ``"cifar10"``, ``"cifar100"``, ``"mnist"`` or ``"fashion_mnist"``.
        data_dir: where the dataset's files are (or are downloaded to).
        download: download (checksummed) when the files are missing.
        val_size: training images held out for validation.
        labeled: labelled training images (``None``: all).
        shift: largest train-time shift in pixels.
        flip: random horizontal flips while training.
        batch_size: of every loader.
        num_workers: of every loader.
        seed: of the validation split and the labelled subset.
    """

    def __init__(
        self,
        name: Literal["mnist", "fashion_mnist", "cifar10", "cifar100"] = "cifar100",
        data_dir: str = "data",
        download: bool = False,
        val_size: int = 5000,
        labeled: int | None = None,
        shift: int = 4,
        flip: bool = True,
        batch_size: int = 128,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(name, data_dir, download, val_size, True, batch_size, num_workers, seed)
        if labeled is not None:
            check_int(labeled, "labeled", min=1)
        self.labeled, self.shift, self.flip = labeled, shift, flip

    def build(self) -> dict[str, Any]:
        sets: dict[str, Any] = super().build()
        n = len(sets["train"])
        mask = None
        if self.labeled is not None:
            order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed + 1))
            mask = torch.zeros(n, dtype=torch.bool)
            mask[order[: self.labeled]] = True
        sets["train"] = LabeledMaskDataset(sets["train"], mask)
        return sets


class ImageFolderDataModule(_AugmentMixin, SplitDataModule):
    """ImageNet-style ``root/{train,val}/<class>/<image>`` folders (for users with the data; needs the
    ``imagenet`` extra, torchvision). Images are resized to ``img_size + img_size // 7`` and centre-
    cropped to ``img_size`` (train: random-resized crop + flip), normalised with ImageNet's mean/std.
    The ``val`` folder is both the validation and the test split.

    Args:
        root: the folder holding ``train/`` and ``val/``.
        img_size: side of the (square) crops.
        batch_size: of every loader.
        num_workers: of every loader.
        seed: of the loaders' shuffling.
    """

    def __init__(
        self,
        root: str = "data/imagenet",
        img_size: int = 224,
        batch_size: int = 128,
        num_workers: int = 8,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        check_int(img_size, "img_size", min=8)
        self.root, self.img_size, self.shift, self.flip = root, img_size, 0, False

    def build(self) -> dict[str, Dataset]:
        try:
            # torchvision ships no type information (no py.typed): imported as an untyped module
            tv: Any = importlib.import_module("torchvision")
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError(
                "ImageFolderDataModule needs torchvision: pip install 'ballroom-tokendistill[imagenet]'"
            ) from err
        datasets, transforms = tv.datasets, tv.transforms
        norm = transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
        train_tf = transforms.Compose([transforms.RandomResizedCrop(self.img_size), transforms.RandomHorizontalFlip(),
                                       transforms.ToTensor(), norm])  # fmt: skip
        eval_tf = transforms.Compose([transforms.Resize(self.img_size + self.img_size // 7),
                                      transforms.CenterCrop(self.img_size), transforms.ToTensor(), norm])  # fmt: skip
        train = datasets.ImageFolder(f"{self.root}/train", transform=train_tf)
        val = datasets.ImageFolder(f"{self.root}/val", transform=eval_tf)
        return {"train": LabeledMaskDataset(train), "val": val, "test": val}
