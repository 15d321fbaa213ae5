"""Plain-PyTorch BiRefNet: official-checkpoint-compatible model, weight loading and ONNX export."""

from .config import IMAGENET_MEAN, IMAGENET_STD, VARIANTS, BackboneConfig, BiRefNetConfig
from .decoder import BiRefNetOutput
from .deform_conv import DeformableConv2d, deform_conv2d
from .export import Parity, check_onnx_parity, export_onnx, random_batch
from .model import BiRefNet
from .weights import build_from_weights, infer_variant, load_state_dict

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "Parity",
    "VARIANTS",
    "BackboneConfig",
    "BiRefNet",
    "BiRefNetConfig",
    "BiRefNetOutput",
    "DeformableConv2d",
    "build_from_weights",
    "check_onnx_parity",
    "deform_conv2d",
    "export_onnx",
    "infer_variant",
    "load_state_dict",
    "random_batch",
]
