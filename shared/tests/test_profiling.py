"""``saved_tensor_bytes`` counts what autograd keeps, each storage once."""

from __future__ import annotations

import torch

from ballroom.core.profiling import saved_tensor_bytes


def test_saved_tensor_bytes() -> None:
    a = torch.randn(1000, requires_grad=True)
    b = torch.randn(1000, requires_grad=True)
    assert saved_tensor_bytes(lambda: (a * b).sum()) == 2 * 4000  # mul saves both float32 inputs
    assert saved_tensor_bytes(lambda: (a * a[:500].repeat(2)).sum()) == 2 * 4000  # a once, the copy once
    with torch.no_grad():
        assert saved_tensor_bytes(lambda: (a * b).sum()) == 0
