"""Seeded datasets and LightningDataModules (no downloads unless asked for).

- :class:`DigitsDataModule`, :class:`RotatedDigitsDataModule`: scikit-learn's bundled digits.
- :class:`VisionDataModule`, :func:`load_mnist`, :func:`load_cifar10`: standard files, checksummed download.
- :class:`UEADataModule`, :func:`ucr_uea`: the UCR/UEA sets bundled with sktime (extra ``timeseries``).
- :class:`SplitDataModule`, :func:`split_indices`: the base class and seeded disjoint splits.
- :class:`ListOpsDataModule`, :func:`generate_listops`, :func:`read_listops_tsv`: procedural and LRA ListOps.
- :func:`stdlib_corpus`: a character corpus from the interpreter's own standard library.
"""

from ballroom.core.data._base import SplitDataModule, split_indices
from ballroom.core.data.digits import (
    DigitsDataModule,
    RotatedDigitsDataModule,
    load_digits_images,
    render_digits,
    rotate_images,
)
from ballroom.core.data.download import (
    NUMPY_PICKLE_GLOBALS,
    ChecksumError,
    UnsafePickleError,
    download_url,
    extract_archive,
    load_pickle,
    md5sum,
    sha256sum,
)
from ballroom.core.data.listops import (
    LISTOPS_FILES,
    LISTOPS_OPERATORS,
    LISTOPS_VOCAB,
    LRA_URL,
    ListOpsDataModule,
    encode_listops,
    generate_listops,
    listops_value,
    load_lra_listops,
    read_listops_tsv,
    trim_padding,
)
from ballroom.core.data.text import STDLIB_MODULES, stdlib_corpus
from ballroom.core.data.uea import BUNDLED_UCR_UEA, UCRUEADataset, UEADataModule, ucr_uea
from ballroom.core.data.vision import (
    VISION_FILES,
    VisionDataModule,
    load_cifar10,
    load_cifar100,
    load_mnist,
    read_idx,
)

__all__ = [
    "BUNDLED_UCR_UEA",
    "LISTOPS_FILES",
    "LISTOPS_OPERATORS",
    "LISTOPS_VOCAB",
    "LRA_URL",
    "NUMPY_PICKLE_GLOBALS",
    "STDLIB_MODULES",
    "VISION_FILES",
    "ChecksumError",
    "DigitsDataModule",
    "ListOpsDataModule",
    "RotatedDigitsDataModule",
    "SplitDataModule",
    "UCRUEADataset",
    "UEADataModule",
    "UnsafePickleError",
    "VisionDataModule",
    "download_url",
    "encode_listops",
    "extract_archive",
    "generate_listops",
    "listops_value",
    "load_cifar10",
    "load_cifar100",
    "load_digits_images",
    "load_lra_listops",
    "load_mnist",
    "load_pickle",
    "md5sum",
    "read_idx",
    "read_listops_tsv",
    "render_digits",
    "rotate_images",
    "sha256sum",
    "split_indices",
    "stdlib_corpus",
    "trim_padding",
    "ucr_uea",
]
