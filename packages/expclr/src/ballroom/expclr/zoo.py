"""Named encoders of ballroom-expclr (registered in the ``ballroom.zoo`` entry-point group)."""

from __future__ import annotations

from typing import Any

from ballroom.core.zoo import ModelCfg
from ballroom.core.zoo import create as _create

__all__ = ["ZOO", "create"]

_PAPER = "Nonnenmacher et al., Utilizing Expert Features for Contrastive Learning of Time-Series Representations, ICML 2022"

ZOO: dict[str, ModelCfg] = {
    "expclr-tiny": ModelCfg(
        builder="ballroom.expclr.nn:ResNet1DEncoder",
        input="univariate series (B, 1, T) float, any T -> representations (B, 16)",
        kwargs={"in_channels": 1, "repr_dim": 16, "blocks": 1, "width": 16},
        paper=_PAPER,
        section="spec: Offline reproduction plan, shrunk",
        notes="1-block ResNet, 16-d representation: trains in seconds on CPU, for tests and the CLI smoke run.",
    ),
    "expclr-small": ModelCfg(
        builder="ballroom.expclr.nn:ResNet1DEncoder",
        input="univariate series (B, 1, T) float, any T -> representations (B, 32)",
        kwargs={"in_channels": 1, "repr_dim": 32, "blocks": 3, "width": 32},
        paper=_PAPER,
        section="spec: Offline reproduction plan (SineBands)",
        notes="The reproduction's encoder: 3 residual blocks, width 32, 32-d representation.",
    ),
    "expclr-resnet": ModelCfg(
        builder="ballroom.expclr.nn:ResNet1DEncoder",
        input="univariate series (B, 1, T) float, any T -> representations (B, 100)",
        kwargs={"in_channels": 1, "repr_dim": 100, "blocks": 8, "width": 64},
        paper=_PAPER,
        section="spec: Encoder and training",
        notes="The paper's 1-D ResNet: 8 blocks, e = 100 (set in_channels for multichannel data).",
    ),
    "expclr-tcn": ModelCfg(
        builder="ballroom.expclr.nn:TCNEncoder",
        input="univariate series (B, 1, T) float, any T -> representations (B, 100)",
        kwargs={"in_channels": 1, "repr_dim": 100, "blocks": 8, "width": 64},
        paper=_PAPER,
        section="spec: Encoder and training",
        notes="The paper's TCN alternative: 8 dilated residual blocks, e = 100.",
    ),
}


def create(name: str, **overrides: Any) -> Any:
    """Build a ballroom-expclr encoder by name, e.g. ``create("expclr-resnet", in_channels=9)``."""
    return _create(ZOO, name, **overrides)
