"""ballroom-core: the thin layer every ballroom method package stands on.

Submodules (import them explicitly; this module stays light because the pytest plugin imports it
in every test run):

- :mod:`ballroom.core.data`: seeded LightningDataModules (digits, rotated digits, UCR/UEA time
  series) and loaders for MNIST, Fashion-MNIST and CIFAR-10 files with checksummed download.
- :mod:`ballroom.core.metrics`: representation similarity (linear/RBF CKA, debiased HSIC, SVCCA,
  PWCCA) as functions and as torchmetrics ``Metric`` classes.
- :mod:`ballroom.core.zoo`: named model configurations across every installed ballroom package.
- :mod:`ballroom.core.lit`: a generic classifier ``LightningModule`` over any zoo model.
- :mod:`ballroom.core.runner`: the experiment runner every ``reproduce.py`` is built on
  (``Reproduction``, ``Context``, ``Outcome``); :mod:`ballroom.core.report`: claims and tables.
- :mod:`ballroom.core.training`: ``make_trainer``, the one quiet deterministic Trainer factory.
- :mod:`ballroom.core.cli`: ``build_cli`` / ``run_cli``, every package's LightningCLI console script.
- :mod:`ballroom.core.checkpoint`: ``load_zoo_model``, a ``fit`` checkpoint back into the zoo's model.
- :mod:`ballroom.core.validate`: input checks for public entry points (``check_tensor``,
  ``as_tensor``, ``check_int``, ``check_choice``...), one error style naming the argument.
- :mod:`ballroom.core.lazy`: lazy package namespaces (names imported on first access).
- :mod:`ballroom.core.profiling`: saved-activation accounting and round-robin timing for benchmarks (any device).
- :mod:`ballroom.core.testing`: the pytest plugin (markers ``cuda``, ``slow``, ``ddp``; ``--device``).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
