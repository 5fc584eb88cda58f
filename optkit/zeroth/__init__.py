"""Zeroth-order fine-tuning at inference memory: MeZO (SPSA with the seed trick),
group-quantized linear layers, and QZO (SPSA on the quantization scales).

The names below are imported on first access, so that loading the method registry
(``optkit.zeroth._methods``) does not import torch.
"""

from optkit.core.lazy import lazy_exports

_EXPORTS = {
    "MeZO": "spsa", "probe_directional_derivatives": "spsa", "zo_grad_": "spsa", "QZO": "qzo",
    "QuantLinear": "quant", "quantize_model": "quant", "scale_parameters": "quant",
    "memory_report": "quant",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
