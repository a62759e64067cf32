"""ballroom-lsbd: the D_LSBD metric and LSBD-VAE (Tonnaer et al., ICML 2022).

Building blocks import with torch only; the Lightning modules and data modules load Lightning on
first access::

    from ballroom.lsbd import dlsbd
    score, omega = dlsbd(Z)          # Z (N_1, ..., N_K, d): codes of the whole factor grid
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import TYPE_CHECKING

from ballroom.core.lazy import lazy_exports

if TYPE_CHECKING:
    from ballroom.lsbd.authors_data import fetch_authors_data, load_airplane_h5, load_modelnet40_h5
    from ballroom.lsbd.data import LSBDDataModule, SequentialLoader
    from ballroom.lsbd.datasets import arrow_dataset, labelled_pairs, random_paths, square_dataset
    from ballroom.lsbd.functional import (
        circle_kl,
        gaussian_kl,
        l2_normalize,
        random_walk_sample,
        reconstruction_loss,
        rotate,
    )
    from ballroom.lsbd.grid import FactorGrid
    from ballroom.lsbd.latent import CircleLatent, GaussianLatent
    from ballroom.lsbd.lit import LSBDVAE
    from ballroom.lsbd.loaders import load_coil100, load_h5_grid, load_npz_grid
    from ballroom.lsbd.metrics import dlsbd, dlsbd_per_factor, omega_grid
    from ballroom.lsbd.models import DislibDecoder, DislibEncoder, MLPDecoder, MLPEncoder
    from ballroom.lsbd.nn import LSBDAutoencoder, build_lsbd
    from ballroom.lsbd.official import (
        keras_h5_weights,
        load_official_state_dict,
        load_official_weights,
        official_state_dict,
    )

__version__ = _version("ballroom-lsbd")

_SOURCES = {
    "fetch_authors_data": "ballroom.lsbd.authors_data",
    "load_airplane_h5": "ballroom.lsbd.authors_data",
    "load_modelnet40_h5": "ballroom.lsbd.authors_data",
    "LSBDDataModule": "ballroom.lsbd.data",
    "SequentialLoader": "ballroom.lsbd.data",
    "FactorGrid": "ballroom.lsbd.grid",
    "arrow_dataset": "ballroom.lsbd.datasets",
    "labelled_pairs": "ballroom.lsbd.datasets",
    "load_coil100": "ballroom.lsbd.loaders",
    "load_h5_grid": "ballroom.lsbd.loaders",
    "load_npz_grid": "ballroom.lsbd.loaders",
    "random_paths": "ballroom.lsbd.datasets",
    "square_dataset": "ballroom.lsbd.datasets",
    "circle_kl": "ballroom.lsbd.functional",
    "gaussian_kl": "ballroom.lsbd.functional",
    "l2_normalize": "ballroom.lsbd.functional",
    "random_walk_sample": "ballroom.lsbd.functional",
    "reconstruction_loss": "ballroom.lsbd.functional",
    "rotate": "ballroom.lsbd.functional",
    "CircleLatent": "ballroom.lsbd.latent",
    "GaussianLatent": "ballroom.lsbd.latent",
    "LSBDVAE": "ballroom.lsbd.lit",
    "dlsbd": "ballroom.lsbd.metrics",
    "dlsbd_per_factor": "ballroom.lsbd.metrics",
    "omega_grid": "ballroom.lsbd.metrics",
    "DislibDecoder": "ballroom.lsbd.models",
    "DislibEncoder": "ballroom.lsbd.models",
    "MLPDecoder": "ballroom.lsbd.models",
    "MLPEncoder": "ballroom.lsbd.models",
    "LSBDAutoencoder": "ballroom.lsbd.nn",
    "build_lsbd": "ballroom.lsbd.nn",
    "keras_h5_weights": "ballroom.lsbd.official",
    "load_official_state_dict": "ballroom.lsbd.official",
    "load_official_weights": "ballroom.lsbd.official",
    "official_state_dict": "ballroom.lsbd.official",
}
__all__ = ["__version__", *sorted(_SOURCES)]
__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, sorted(_SOURCES))
