"""The official core module's formulation, kept for side-by-side checks and benchmarks.

:class:`OfficialFlowAttention` follows the computation order of the reference
``Flow_Attention.py`` as the spec describes it: reciprocal flows ``1/I``, ``1/O`` computed first;
the non-causal aggregation as two einsums; the causal one materialising the ``(B, H, L, D, Dv)``
prefix states with ``cumsum``, the position counts ``1..L`` as a float32 tensor (which is why the
official causal module fails in bfloat16) and ``1/I`` multiplied by ``i`` and divided by it
again. It is *not* what the package uses (see :func:`ballroom.flowformer.functional.flow_attention`);
it is the baseline that the tests (identical outputs from shared weights) and the benchmark
(time and memory) compare against.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ballroom.flowformer.attention import _MultiHead

__all__ = ["OfficialFlowAttention"]


class OfficialFlowAttention(_MultiHead):
    """``forward(queries (B, L, d_input), keys (B, S, d_input), values (B, S, d_input)) -> (B, L, d_output)``.

    Same projections, state-dict names and output dropout as
    :class:`~ballroom.flowformer.nn.FlowAttention` (shared base class); sigmoid features, clamp 1;
    no padding support.
    """

    def __init__(
        self,
        d_input: int,
        d_model: int,
        d_output: int,
        n_heads: int,
        *,
        causal: bool = False,
        dropout: float = 0.05,
        eps: float = 1e-6,
    ) -> None:
        super().__init__(d_input, d_model, d_output, n_heads, dropout)
        self.causal, self.eps = causal, eps

    def _attend(self, q: Tensor, k: Tensor, v: Tensor, key_padding_mask: Tensor | None) -> Tensor:
        if key_padding_mask is not None:
            raise ValueError("the official formulation has no padding support")
        q, k = torch.sigmoid(q), torch.sigmoid(k)
        eps = self.eps
        if not self.causal:
            sink_in = 1.0 / torch.einsum("bhld,bhd->bhl", q + eps, k.sum(dim=2) + eps)
            source_out = 1.0 / torch.einsum("bhld,bhd->bhl", k + eps, q.sum(dim=2) + eps)
            cons_sink = torch.einsum("bhld,bhd->bhl", q + eps, (k * source_out[..., None]).sum(dim=2) + eps)
            cons_source = torch.einsum("bhld,bhd->bhl", k + eps, (q * sink_in[..., None]).sum(dim=2) + eps)
            cons_source = torch.clamp(cons_source, min=-1.0, max=1.0)
            alloc = torch.sigmoid(cons_sink * (float(q.shape[2]) / float(k.shape[2])))
            comp = torch.softmax(cons_source, dim=-1) * float(k.shape[2])
            kv = torch.einsum("bhsd,bhse->bhde", k, v * comp[..., None])
            x = torch.einsum("bhld,bhde->bhle", q * sink_in[..., None], kv) * alloc[..., None]
        else:
            normal = (torch.arange(q.shape[2], device=q.device) + 1.0)[None, None, :]  # float32 positions
            sink_in = 1.0 / torch.einsum("bhld,bhld->bhl", q + eps, k.cumsum(dim=2) + eps) * normal
            source_out = 1.0 / torch.einsum("bhld,bhld->bhl", k + eps, q.cumsum(dim=2) + eps) * normal
            cons_sink = (
                torch.einsum("bhld,bhld->bhl", q + eps, (k * source_out[..., None]).cumsum(dim=2) + eps)
                / normal
            )
            cons_source = (
                torch.einsum("bhld,bhld->bhl", k + eps, (q * sink_in[..., None]).cumsum(dim=2) + eps) / normal
            )
            cons_source = torch.clamp(cons_source, min=-1.0, max=1.0)
            alloc = torch.sigmoid(cons_sink)
            expo = torch.exp(cons_source)
            comp = expo / expo.cumsum(dim=-1) * normal
            kv = torch.einsum("bhld,bhle->bhlde", k, v * comp[..., None]).cumsum(dim=2)
            x = torch.einsum("bhld,bhlde->bhle", q * (sink_in / normal)[..., None], kv) * alloc[..., None]
        return x
