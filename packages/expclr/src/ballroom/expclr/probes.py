"""Frozen-encoder evaluation: embeddings, a linear probe and 1-nearest-neighbour accuracy."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["LinearProbe", "embed", "knn_probe"]


@torch.no_grad()
def embed(encoder: nn.Module, x: Tensor, mask: Tensor | None = None, batch_size: int = 256) -> np.ndarray:
    """Representations ``(N, e)`` of ``x (N, C, T)`` from ``encoder`` in eval mode (mode restored).

    Args:
        encoder: the encoder, ``forward(x, mask)``; batches are moved to its parameters' device.
        x: ``(N, C, T)`` series.
        mask: ``(N, T)`` bool, True on observed steps, or ``None``.
        batch_size: series per forward pass.

    Returns:
        ``(N, e)`` float64 numpy array.
    """
    was = encoder.training
    encoder.eval()
    dev = next(encoder.parameters()).device
    try:
        out = [
            encoder(
                x[i : i + batch_size].to(dev), None if mask is None else mask[i : i + batch_size].to(dev)
            ).cpu()
            for i in range(0, x.shape[0], batch_size)
        ]
    finally:
        encoder.train(was)
    return torch.cat(out).double().numpy()


def _labelled(z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y)
    keep = y >= 0
    if keep.sum() < 2 or len(np.unique(y[keep])) < 2:
        raise ValueError("the probe needs at least 2 labelled training samples of 2 classes (labels >= 0)")
    return np.asarray(z)[keep], y[keep]


class LinearProbe:
    """Logistic regression on standardised embeddings; only training samples with label ``>= 0`` are used.

    Args:
        max_iter: ``LogisticRegression``'s iteration limit.
        C: ``LogisticRegression``'s inverse regularisation strength.
    """

    def __init__(self, max_iter: int = 2000, C: float = 1.0) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter, C=C))

    def fit(self, z: np.ndarray, y: np.ndarray) -> LinearProbe:
        self.model.fit(*_labelled(z, y))
        return self

    def score(self, z: np.ndarray, y: np.ndarray) -> float:
        """Accuracy on ``(z, y)``."""
        return float(self.model.score(np.asarray(z), np.asarray(y)))


def knn_probe(
    z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray, y_test: np.ndarray, k: int = 1
) -> float:
    """k-nearest-neighbour (Euclidean, default 1-NN) test accuracy using the labelled training samples.

    Args:
        z_train: ``(N, e)`` training embeddings.
        y_train: ``(N,)`` training labels, ``-1`` for unlabelled (left out).
        z_test: ``(M, e)`` test embeddings.
        y_test: ``(M,)`` test labels.
        k: neighbours.

    Returns:
        The accuracy on the test set, in ``[0, 1]``.

    Raises:
        ValueError: fewer than 2 labelled training samples or fewer than 2 classes among them.
    """
    from sklearn.neighbors import KNeighborsClassifier

    zt, yt = _labelled(z_train, y_train)
    return float(
        KNeighborsClassifier(n_neighbors=k).fit(zt, yt).score(np.asarray(z_test), np.asarray(y_test))
    )
