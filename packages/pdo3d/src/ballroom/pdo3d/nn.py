"""The steerable layers (plain ``nn.Module``, no Lightning): field types, the PDO convolution,
nonlinearities, normalisation, pooling and read-out. Feature maps are ``[B, C, D, H, W]`` with the
fields of a :class:`FieldType` stacked field-major (a field of type rho occupies ``d_rho``
consecutive channels)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ballroom.core.validate import check_choice, check_int, check_positive, check_tensor
from ballroom.pdo3d.functional import pdo_kernels
from ballroom.pdo3d.groups import Group, Rep

__all__ = [
    "FieldAvgPool3d",
    "FieldBatchNorm",
    "FieldReLU",
    "FieldType",
    "GatedNonlinearity",
    "GaussianLowPass3d",
    "GroupPooling",
    "InvariantReadout",
    "PDOConv3d",
    "SO3BatchNorm",
]


class FieldType:
    """A layer type: ``FieldType(group, [(rep, multiplicity), ...])``.

    Attributes:
        size: the number of channels ``sum d_rho * multiplicity``.
        fields: the ``(rep, multiplicity)`` list (multiplicities >= 1).
    """

    def __init__(self, group: Group, fields: Sequence[tuple[Rep, int]]) -> None:
        if not isinstance(group, Group):
            raise TypeError(f"group must be a Group, got {type(group).__name__}")
        self.group = group
        self.fields: list[tuple[Rep, int]] = []
        for rep, mult in fields:
            if not isinstance(rep, Rep) or rep.group != group:
                raise ValueError(f"fields: every rep must be a Rep of {group.name}, got {rep!r}")
            self.fields.append((rep, check_int(mult, "multiplicity", min=1)))
        if not self.fields:
            raise ValueError("fields must not be empty")
        self.size = sum(r.dim * m for r, m in self.fields)

    def slices(self) -> list[tuple[Rep, int, int]]:
        """``(rep, first channel, multiplicity)`` of each entry."""
        out, start = [], 0
        for rep, mult in self.fields:
            out.append((rep, start, mult))
            start += rep.dim * mult
        return out

    def representation(self, g: Tensor) -> Tensor:
        """The block-diagonal ``(size, size)`` float64 matrix of rotation ``g``."""
        blocks = [rep(g) for rep, mult in self.fields for _ in range(mult)]
        return torch.block_diag(*blocks)

    @property
    def permutation(self) -> bool:
        """Every field is a permutation representation (pointwise ReLU / field BN are equivariant)."""
        return all(r.permutation for r, _ in self.fields)

    def gated(self) -> FieldType:
        """This type plus one trivial gate per non-scalar field, appended at the end."""
        n = sum(m for r, m in self.fields if r.dim > 1)
        return FieldType(self.group, [*self.fields, (self.group.irrep(0), n)]) if n else self

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, FieldType)
            and other.group == self.group
            and [(r.key, m) for r, m in other.fields] == [(r.key, m) for r, m in self.fields]
        )

    def __repr__(self) -> str:
        inner = ", ".join(f"{r.name}x{m}" for r, m in self.fields)
        return f"FieldType({self.group.name}: {inner})"


def _check_input(x: object, ftype: FieldType, name: str = "x") -> Tensor:
    x = check_tensor(x, name, ndim=5)
    if x.shape[1] != ftype.size:
        raise ValueError(f"{name} must have {ftype.size} channels ({ftype}), got shape {tuple(x.shape)}")
    return x


class PDOConv3d(nn.Module):
    """The PDO-based steerable convolution ``in_type -> out_type``: ``[B, C_in, D, H, W] ->
    [B, C_out, D', H', W']``.

    Weight ``W[(p, o), (q, i)] = sum_b theta[p, q, b] K_b[o, i]`` per field pair (kernels from
    :func:`~ballroom.pdo3d.functional.pdo_kernels`), then ``conv3d(x, W, padding=n // 2, stride)``.
    ``theta ~ N(0, 2 / (C_out * m))`` with ``C_out`` the output multiplicities; rebuilt every
    forward in training, cached in eval. ``bias`` adds a learnable bias to trivial output fields only.

    Args:
        in_type, out_type: ``FieldType`` of the input and output (the same group).
        mode: ``"fd"`` (3^3 central differences) or ``"gaussian"`` (5^3, std ``sigma``).
        stride: the convolution stride.
        sigma: the Gaussian stencils' std in voxels (``mode="gaussian"`` only).
        bias: a learnable bias on the trivial output fields (the official layers have none).
        cache_dir: where the basis solutions are cached (see ``solve_pdo_basis``).
        stencils: ``"ours"`` or ``"official"`` (the official code's stencil conventions, see
            :func:`~ballroom.pdo3d.functional.pdo_stencils`).
        radius: the Gaussian stencils' half width (``mode="gaussian"`` only; default 2, the spec's
            5^3; 4 gives 9^3, nearly untruncated at ``sigma = 1``).
    """

    def __init__(
        self, in_type: FieldType, out_type: FieldType, mode: str = "fd", stride: int = 1, sigma: float = 1.0,
        bias: bool = False, cache_dir: str | os.PathLike[str] | None = None, stencils: str = "ours",
        radius: int | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        if not isinstance(in_type, FieldType) or not isinstance(out_type, FieldType):
            raise TypeError("in_type and out_type must be FieldType objects")
        if in_type.group != out_type.group:
            raise ValueError(
                f"in_type and out_type must share a group, got {in_type.group.name}, {out_type.group.name}"
            )
        self.in_type, self.out_type = in_type, out_type
        self.mode = check_choice(mode, "mode", ("fd", "gaussian"))
        self.stride = check_int(stride, "stride", min=1)
        self.sigma = check_positive(sigma, "sigma")
        self.radius = None if radius is None else check_int(radius, "radius", min=1)
        if self.radius is not None and mode != "gaussian":
            raise ValueError(
                f"radius applies to mode='gaussian' only (finite differences are 3^3), got mode={mode!r}"
            )
        c_out_mult = sum(m for _, m in out_type.fields)
        self.theta = nn.ParameterDict()
        self._pairs: list[tuple[str, int, int, int, int, int, int]] = []
        size = 3
        for i, (ri, si, mi) in enumerate(in_type.slices()):
            for o, (ro, so, mo) in enumerate(out_type.slices()):
                k = pdo_kernels(
                    ri, ro, mode, sigma, cache_dir=cache_dir, convention=stencils, radius=self.radius
                ).float()
                size = k.shape[-1]
                if k.shape[0] == 0:
                    continue
                name = f"{i}_{o}"
                self.register_buffer(f"kernel_{name}", k, persistent=False)
                std = math.sqrt(2.0 / (c_out_mult * k.shape[0]))
                self.theta[name] = nn.Parameter(torch.randn(mo, mi, k.shape[0]) * std)
                self._pairs.append((name, si, mi, ri.dim, so, mo, ro.dim))
        self.kernel_size = size
        self.bias = None
        if bias:
            n_triv = sum(m for r, m in out_type.fields if r.is_trivial)
            if n_triv == 0:
                raise ValueError("bias=True needs trivial output fields")
            self.bias = nn.Parameter(torch.zeros(n_triv))
        self._cached: Tensor | None = None

    def train(self, mode: bool = True) -> PDOConv3d:
        self._cached = None
        return super().train(mode)

    def weight(self) -> Tensor:
        """The dense weight ``[C_out, C_in, n, n, n]`` assembled from ``theta``."""
        n = self.kernel_size
        first = next(iter(self.theta.values()), None)
        dev = first.device if first is not None else torch.device("cpu")
        dtype = first.dtype if first is not None else torch.float32
        w = torch.zeros(self.out_type.size, self.in_type.size, n, n, n, device=dev, dtype=dtype)
        for name, si, mi, di, so, mo, do in self._pairs:
            k = getattr(self, f"kernel_{name}").to(dtype)
            block = torch.einsum("pqb,boizyx->poqizyx", self.theta[name], k).reshape(
                mo * do, mi * di, n, n, n
            )
            w[so : so + mo * do, si : si + mi * di] = block
        return w

    def _bias_vector(self) -> Tensor | None:
        if self.bias is None:
            return None
        full = self.bias.new_zeros(self.out_type.size)
        j = 0
        for rep, start, mult in self.out_type.slices():
            if rep.is_trivial:
                full[start : start + mult] = self.bias[j : j + mult]
                j += mult
        return full

    def forward(self, x: Tensor) -> Tensor:
        _check_input(x, self.in_type)
        if self.training or self._cached is None or self._cached.device != x.device:
            w = self.weight()
            self._cached = None if self.training else w.detach()
        else:
            w = self._cached
        return F.conv3d(
            x, w.to(x.dtype), self._bias_vector(), stride=self.stride, padding=self.kernel_size // 2
        )

    def extra_repr(self) -> str:
        return f"{self.in_type} -> {self.out_type}, mode={self.mode}, stride={self.stride}"


class FieldReLU(nn.Module):
    """Pointwise ReLU on permutation fields (trivial, regular, quotient): ``[B, C, ...] -> same``.

    Args:
        field_type: the input (and output) ``FieldType``; every rep must be a permutation rep.
    """

    def __init__(self, field_type: FieldType) -> None:
        super().__init__()
        if not field_type.permutation:
            raise ValueError(f"FieldReLU needs permutation fields (use GatedNonlinearity), got {field_type}")
        self.in_type = self.out_type = field_type

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(_check_input(x, self.in_type))


class GatedNonlinearity(nn.Module):
    """Gated nonlinearity for irreps: input ``field_type.gated()`` (one trivial gate per
    non-scalar field after the fields), output ``field_type``. Scalars -> ReLU; each ``l > 0``
    field ``* sigmoid(gate + bias)``.

    Args:
        field_type: the output type ``[B, field_type.size, ...]``; the input is
            ``[B, field_type.gated().size, ...]``. A learnable bias per gate (zero init).
    """

    scalar_mask: Tensor
    gate_of: Tensor

    def __init__(self, field_type: FieldType) -> None:
        super().__init__()
        self.out_type = field_type
        self.in_type = field_type.gated()
        self.n_gates = self.in_type.size - field_type.size
        self.bias = nn.Parameter(torch.zeros(self.n_gates))
        mask = torch.zeros(field_type.size, dtype=torch.bool)
        gate_of = torch.zeros(field_type.size, dtype=torch.long)
        g = 0
        for rep, start, mult in field_type.slices():
            if rep.dim == 1:
                mask[start : start + mult] = True
            else:
                for k in range(mult):
                    gate_of[start + k * rep.dim : start + (k + 1) * rep.dim] = g
                    g += 1
        self.register_buffer("scalar_mask", mask, persistent=False)
        self.register_buffer("gate_of", gate_of, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        _check_input(x, self.in_type)
        c = self.out_type.size
        feats, gates = x[:, :c], x[:, c:]
        shape = (1, -1, 1, 1, 1)
        if self.n_gates:
            gate = torch.sigmoid(gates + self.bias.view(shape))[:, self.gate_of]
        else:
            gate = torch.ones_like(feats)
        mask = self.scalar_mask.view(shape)
        return torch.where(mask, F.relu(feats), feats * gate)


class FieldBatchNorm(nn.Module):
    """BatchNorm3d per permutation field, statistics shared over the field's ``d`` components.

    ``[B, C, D, H, W] -> same``: each ``(rep, mult)`` entry is reshaped to ``[B, mult, d D, H, W]``
    and normalised by a ``BatchNorm3d(mult)``.

    Args:
        field_type: the input (and output) ``FieldType`` of permutation reps.
        eps, momentum, affine: as in ``torch.nn.BatchNorm3d`` (one weight and bias per field).
    """

    def __init__(
        self, field_type: FieldType, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True
    ) -> None:
        super().__init__()
        if not field_type.permutation:
            raise ValueError(f"FieldBatchNorm needs permutation fields (use SO3BatchNorm), got {field_type}")
        self.in_type = self.out_type = field_type
        self.norms = nn.ModuleList(
            nn.BatchNorm3d(m, eps=eps, momentum=momentum, affine=affine) for _, m in field_type.fields
        )

    def forward(self, x: Tensor) -> Tensor:
        _check_input(x, self.in_type)
        b, _, d, h, w = x.shape
        outs = []
        for bn, (rep, start, mult) in zip(self.norms, self.in_type.slices()):
            part = x[:, start : start + mult * rep.dim].reshape(b, mult, rep.dim * d, h, w)
            outs.append(bn(part).reshape(b, mult * rep.dim, d, h, w))
        return torch.cat(outs, 1)


class SO3BatchNorm(nn.Module):
    """se3cnn-style BatchNorm for irreps: scalar fields centred by the (running) mean, every field
    divided by ``sqrt(mean_{batch, voxels} ||f||^2 + eps)``; affine weight per field, bias for scalars.

    ``[B, C, D, H, W] -> same``; in eval the running mean/mean square (updated with ``momentum``)
    replace the batch statistics.

    Args:
        field_type: the input (and output) ``FieldType`` (irreps; ``dim 1`` fields are scalars).
        eps: added to the mean squared norm before the square root.
        momentum: running-statistics update rate (``running = (1 - m) running + m batch``).
    """

    field_dims: Tensor
    running_mean: Tensor
    running_var: Tensor

    def __init__(self, field_type: FieldType, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.in_type = self.out_type = field_type
        self.eps, self.momentum = check_positive(eps, "eps"), momentum
        dims = [rep.dim for rep, m in field_type.fields for _ in range(m)]
        self.register_buffer("field_dims", torch.tensor(dims), persistent=False)
        n, n_s = len(dims), sum(1 for d in dims if d == 1)
        self.register_buffer("running_mean", torch.zeros(n_s))
        self.register_buffer("running_var", torch.ones(n))
        self.weight = nn.Parameter(torch.ones(n))
        self.bias = nn.Parameter(torch.zeros(n_s))

    def forward(self, x: Tensor) -> Tensor:
        _check_input(x, self.in_type)
        outs, fi, si, start = [], 0, 0, 0
        for d in self.field_dims.tolist():
            f = x[:, start : start + d]
            if d == 1:
                if self.training:
                    mean = f.mean()
                    with torch.no_grad():
                        self.running_mean[si].lerp_(mean.detach(), self.momentum)
                else:
                    mean = self.running_mean[si]
                f = f - mean
            if self.training:
                var = f.pow(2).sum(1).mean()
                with torch.no_grad():
                    self.running_var[fi].lerp_(var.detach(), self.momentum)
            else:
                var = self.running_var[fi]
            f = f * (self.weight[fi] / torch.sqrt(var + self.eps))
            if d == 1:
                f = f + self.bias[si]
                si += 1
            outs.append(f)
            fi += 1
            start += d
        return torch.cat(outs, 1)


class FieldAvgPool3d(nn.AvgPool3d):
    """``AvgPool3d(kernel, stride)`` (field-wise; exact for O on grids symmetric about the centre).

    Args:
        kernel_size: the pooling window edge (2: ``D -> D / 2``).
        stride: defaults to ``kernel_size``.
    """

    def __init__(self, kernel_size: int = 2, stride: int | None = None) -> None:
        super().__init__(kernel_size, stride if stride is not None else kernel_size)


class GaussianLowPass3d(nn.Module):
    """Depthwise Gaussian low-pass ``size^3`` (std ``sigma``, taps summing to 1), ``stride``, ``padding``.

    The anti-aliased pooling of SO(3)/Gaussian nets: ``[B, C, D, H, W] -> [B, C, D', H', W']``.
    """

    kernel: Tensor

    def __init__(self, size: int = 4, sigma: float = 1.0, stride: int = 2, padding: int = 1) -> None:
        super().__init__()
        self.size, self.stride, self.padding = check_int(size, "size", min=1), stride, padding
        t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
        g = torch.exp(-(t**2) / (2 * check_positive(sigma, "sigma") ** 2))
        g = g / g.sum()
        self.register_buffer("kernel", torch.einsum("i,j,k->ijk", g, g, g).float(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        x = check_tensor(x, "x", ndim=5)
        c = x.shape[1]
        k = self.kernel.to(x.dtype).expand(c, 1, -1, -1, -1)
        return F.conv3d(x, k, stride=self.stride, padding=self.padding, groups=c)


class GroupPooling(nn.Module):
    """Invariant pooling per field: max over the components of permutation fields, the norm of
    other fields; output ``[B, n_fields, D, H, W]`` (trivial fields).

    Args:
        field_type: the input ``FieldType``; ``out_type`` has one trivial field per input field.
    """

    def __init__(self, field_type: FieldType) -> None:
        super().__init__()
        self.in_type = field_type
        n = sum(m for _, m in field_type.fields)
        self.out_type = FieldType(field_type.group, [(field_type.group.irrep(0), n)])

    def forward(self, x: Tensor) -> Tensor:
        _check_input(x, self.in_type)
        b, _, d, h, w = x.shape
        outs = []
        for rep, start, mult in self.in_type.slices():
            part = x[:, start : start + mult * rep.dim].reshape(b, mult, rep.dim, d, h, w)
            outs.append(part.amax(2) if rep.permutation else part.norm(dim=2))
        return torch.cat(outs, 1)


class InvariantReadout(nn.Module):
    """Global spatial mean of the trivial fields: ``[B, C, D, H, W] -> [B, n_trivial]``.

    Args:
        field_type: the input ``FieldType`` (must contain trivial fields; the others are dropped).
    """

    index: Tensor

    def __init__(self, field_type: FieldType) -> None:
        super().__init__()
        self.in_type = field_type
        idx = [start + k for rep, start, mult in field_type.slices() if rep.is_trivial for k in range(mult)]
        if not idx:
            raise ValueError(f"InvariantReadout needs trivial fields, got {field_type}")
        self.register_buffer("index", torch.tensor(idx), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        _check_input(x, self.in_type)
        return x[:, self.index].mean(dim=(2, 3, 4))
