r"""Weight-only group quantization of ``nn.Linear`` layers, with trainable fp32 scales.

A :class:`QuantLinear` stores integer codes :math:`q` (int4 packed two per byte, or
int8), per-group zero points :math:`z_p` (uint8) and per-group scales :math:`\Delta`
(fp32 ``nn.Parameter``) along the input dimension, and computes
:math:`w = \Delta (q - z_p)` on the fly in the forward. QZO tunes :math:`\Delta` only.
"""

from __future__ import annotations

import copy
import fnmatch
import warnings
from collections.abc import Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from optkit.core.validate import check_in, check_int

__all__ = ["QuantLinear", "quantize_model", "scale_parameters", "memory_report"]

_TINY_SCALE = 1e-8
_STORAGES = ("packed", "int8")
_EXCLUDED = "excluded by include/exclude"


def pack_int4(codes: torch.Tensor) -> torch.Tensor:
    """Pack uint8 codes in [0, 15] of shape [N, K] (K even) into [N, K/2]; low nibble = even column."""
    return codes[:, 0::2] | (codes[:, 1::2] << 4)


def unpack_int4(packed: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`pack_int4`: [N, K/2] uint8 -> [N, K] uint8."""
    out = torch.stack((packed & 0x0F, packed >> 4), dim=-1)
    return out.reshape(packed.shape[0], -1)


def _quantize(weight: torch.Tensor, bits: int, group_size: int, symmetric: bool):
    """Round-to-nearest group quantization; returns uint8 codes [N, K], zero points and scales."""
    n, k = weight.shape
    w = weight.detach().float().reshape(n, k // group_size, group_size)
    top = 2 ** bits - 1
    if symmetric:
        half = 2 ** (bits - 1) - 1
        scales = w.abs().amax(dim=-1) / half
        scales = torch.where(scales > 0, scales, torch.full_like(scales, _TINY_SCALE))
        zp = torch.full_like(scales, 2 ** (bits - 1))
        q = torch.clamp(torch.round(w / scales[..., None]), -half, half) + zp[..., None]
    else:
        lo = w.amin(dim=-1).clamp(max=0)
        hi = w.amax(dim=-1).clamp(min=0)
        scales = (hi - lo) / top
        scales = torch.where(scales > 0, scales, torch.full_like(scales, _TINY_SCALE))
        zp = torch.clamp(torch.round(-lo / scales), 0, top)
        q = torch.clamp(torch.round(w / scales[..., None]) + zp[..., None], 0, top)
    return q.reshape(n, k).to(torch.uint8), zp.to(torch.uint8), scales


class QuantLinear(nn.Module):
    r"""A linear layer with group-quantized weights :math:`w = \Delta (q - z_p)`.

    Quantization is per group of ``group_size`` consecutive input features,
    round-to-nearest. Asymmetric (default, min-max with 0 inside the range):
    :math:`\Delta = (\max(w, 0) - \min(w, 0)) / (2^b - 1)`, :math:`z_p =
    \operatorname{clamp}(\operatorname{round}(-\min/\Delta), 0, 2^b - 1)`,
    :math:`q = \operatorname{clamp}(\operatorname{round}(w/\Delta) + z_p, 0, 2^b-1)`.
    Symmetric: :math:`\Delta = \max|w| / (2^{b-1} - 1)`, :math:`z_p = 2^{b-1}`. In both
    :math:`|w - \hat w| \le \Delta/2`; all-zero groups get :math:`\Delta = 10^{-8}`.

    Buffers: ``codes`` uint8 ``[N, K/2]`` (int4, two per byte, low nibble = even
    column) or ``[N, K]`` (``storage="int8"`` or 8 bits), ``zero_points`` uint8
    ``[N, K/g]``; parameter ``scales`` fp32 ``[N, K/g]`` (``requires_grad=False``;
    set it to ``True`` for first-order scale tuning), and ``bias`` if any. The forward
    dequantizes to the input dtype (a transient ``[N, K]``) and calls ``F.linear``.

    References
    ----------
    S. Shang et al., "Fine-tuning Quantized Neural Networks with Zeroth-order
    Optimization" (QZO), arXiv:2505.13430, 2025, §3.1.
    """

    def __init__(self, in_features: int, out_features: int, *, bits: int = 4,
                 group_size: int = 128, symmetric: bool = False, storage: str = "packed",
                 bias: bool = True, device=None):
        super().__init__()
        self.in_features = check_int(in_features, "in_features", minimum=1)
        self.out_features = check_int(out_features, "out_features", minimum=1)
        self.bits = check_in(bits, "bits", (4, 8))
        self.group_size = check_int(group_size, "group_size", minimum=1)
        self.symmetric = bool(symmetric)
        self.storage = check_in(storage, "storage", _STORAGES)
        if in_features % group_size:
            raise ValueError(f"group_size={group_size} must divide in_features={in_features} "
                             "(choose 32/64 for narrow layers, or leave the layer unquantized)")
        packed = bits == 4 and storage == "packed"
        if packed and in_features % 2:
            raise ValueError(f"packed int4 storage needs an even in_features, got {in_features}")
        width = in_features // 2 if packed else in_features
        groups = in_features // group_size
        self.register_buffer("codes", torch.zeros(out_features, width, dtype=torch.uint8,
                                                  device=device))
        self.register_buffer("zero_points", torch.zeros(out_features, groups, dtype=torch.uint8,
                                                        device=device))
        self.scales = nn.Parameter(torch.ones(out_features, groups, device=device),
                                   requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(out_features, device=device),
                                 requires_grad=False) if bias else None

    @property
    def packed(self) -> bool:
        return self.bits == 4 and self.storage == "packed"

    @classmethod
    def from_linear(cls, linear: nn.Linear, bits: int = 4, group_size: int = 128,
                    symmetric: bool = False, storage: str = "packed") -> QuantLinear:
        """Quantize ``linear`` (left unchanged). Raises ``ValueError`` if ``group_size``
        does not divide ``in_features``."""
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"linear must be an nn.Linear, got {type(linear).__name__}")
        weight = linear.weight
        if not torch.isfinite(weight).all():
            raise ValueError("linear.weight must be finite to be quantized")
        layer = cls(linear.in_features, linear.out_features, bits=bits, group_size=group_size,
                    symmetric=symmetric, storage=storage, bias=linear.bias is not None,
                    device=weight.device)
        q, zp, scales = _quantize(weight, bits, group_size, symmetric)
        with torch.no_grad():
            layer.codes.copy_(pack_int4(q) if layer.packed else q)
            layer.zero_points.copy_(zp)
            layer.scales.copy_(scales)
            if linear.bias is not None:
                layer.bias.copy_(linear.bias.detach().float())
        return layer

    def int_codes(self) -> torch.Tensor:
        """The codes as uint8 ``[N, K]``, unpacked."""
        return unpack_int4(self.codes) if self.packed else self.codes

    def dequantize(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The weight :math:`\\Delta (q - z_p)` as a ``[N, K]`` tensor (differentiable in the scales)."""
        n, k, g = self.out_features, self.in_features, self.group_size
        levels = self.int_codes().reshape(n, k // g, g).float() - self.zero_points[..., None].float()
        return (levels * self.scales[..., None]).reshape(n, k).to(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return F.linear(x, self.dequantize(x.dtype), bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, bits={self.bits}, "
                f"group_size={self.group_size}, symmetric={self.symmetric}, storage={self.storage}, "
                f"bias={self.bias is not None}")


def _matches(name: str, patterns: Iterable[str] | None) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def quantize_model(model: nn.Module, bits: int = 4, group_size: int = 128, *,
                   include: Iterable[str] | None = None, exclude: Iterable[str] | None = None,
                   symmetric: bool = False, storage: str = "packed", inplace: bool = False):
    """Replace every ``nn.Linear`` of ``model`` by a :class:`QuantLinear`.

    Parameters
    ----------
    model : nn.Module
    bits : {4, 8}
    group_size : int
        Input features per scale; a layer whose ``in_features`` it does not divide
        (or, packed int4, an odd ``in_features``) is left unquantized, reported in
        ``skipped`` and named in a ``UserWarning``.
    include, exclude : iterable of str, optional
        ``fnmatch`` patterns on module names: quantize only names matching ``include``
        (all if None) and not matching ``exclude``.
    symmetric : bool
    storage : {"packed", "int8"}
    inplace : bool
        Modify ``model`` itself instead of a deep copy.

    Returns
    -------
    model : nn.Module
        The quantized model.
    skipped : dict
        ``{module name: reason}`` for every ``nn.Linear`` left unquantized.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    check_in(bits, "bits", (4, 8))
    check_int(group_size, "group_size", minimum=1)
    check_in(storage, "storage", _STORAGES)
    include = None if include is None else [include] if isinstance(include, str) else list(include)
    exclude = [] if exclude is None else [exclude] if isinstance(exclude, str) else list(exclude)
    if not inplace:
        model = copy.deepcopy(model)
    skipped = {}
    targets = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    for name, linear in targets:
        if (include is not None and not _matches(name, include)) or _matches(name, exclude):
            skipped[name] = _EXCLUDED
            continue
        if linear.in_features % group_size:
            skipped[name] = f"group_size={group_size} does not divide in_features={linear.in_features}"
            continue
        if bits == 4 and storage == "packed" and linear.in_features % 2:
            skipped[name] = f"packed int4 needs an even in_features, got {linear.in_features}"
            continue
        layer = QuantLinear.from_linear(linear, bits=bits, group_size=group_size,
                                        symmetric=symmetric, storage=storage)
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, layer)
    unfit = {name: why for name, why in skipped.items() if why != _EXCLUDED}
    if unfit:
        listing = "; ".join(f"{name!r}: {why}" for name, why in unfit.items())
        warnings.warn(f"quantize_model left {len(unfit)} linear layer(s) unquantized: {listing} "
                      "(pass a group_size that divides their in_features, or exclude them)",
                      UserWarning, stacklevel=2)
    return model, skipped


def scale_parameters(model: nn.Module) -> Iterator[nn.Parameter]:
    """The ``scales`` of every :class:`QuantLinear` in ``model`` (what QZO tunes)."""
    for m in model.modules():
        if isinstance(m, QuantLinear):
            yield m.scales


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def memory_report(model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> dict:
    """Bytes held by the real tensors of ``model`` and ``optimizer`` (no estimates).

    Keys: ``codes``, ``zero_points``, ``scales`` (of :class:`QuantLinear` layers),
    ``weights`` (every other parameter and buffer), ``grads`` (``.grad`` tensors),
    ``optimizer_state`` (tensors in ``optimizer.state``), ``persistent`` (their sum),
    and the transient peaks of a zeroth-order step: ``transient_z`` (the largest fp32
    random chunk for the optimizer's parameters) and ``transient_dequant`` (the
    largest dequantized fp32 ``[N, K]`` weight).
    """
    out = dict.fromkeys(("codes", "zero_points", "scales", "weights", "grads", "optimizer_state"), 0)
    quant_ids = set()
    dequant = 0
    for m in model.modules():
        if isinstance(m, QuantLinear):
            out["codes"] += _nbytes(m.codes)
            out["zero_points"] += _nbytes(m.zero_points)
            out["scales"] += _nbytes(m.scales)
            quant_ids.update({id(m.codes), id(m.zero_points), id(m.scales)})
            dequant = max(dequant, 4 * m.out_features * m.in_features)
    for t in list(model.parameters()) + list(model.buffers()):
        if id(t) not in quant_ids:
            out["weights"] += _nbytes(t)
        if t.grad is not None:
            out["grads"] += _nbytes(t.grad)
    largest = 0
    if optimizer is not None:
        for state in optimizer.state.values():
            for v in state.values():
                if isinstance(v, torch.Tensor):
                    out["optimizer_state"] += _nbytes(v)
        chunk = getattr(optimizer, "chunk_size", None)
        for group in optimizer.param_groups:
            for p in group["params"]:
                n = p.numel() if chunk is None else min(p.numel(), chunk)
                largest = max(largest, n)
    out["persistent"] = sum(out[k] for k in ("codes", "zero_points", "scales", "weights", "grads",
                                              "optimizer_state"))
    out["transient_z"] = 4 * largest if getattr(optimizer, "chunk_size", None) else 0
    out["transient_dequant"] = dequant
    return out
