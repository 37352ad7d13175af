"""Capabilities an LLM backend can opt into (mirrors `distilabel.models.mixins`)."""

from stillroom.models.mixins.cuda_device_placement import CudaDevicePlacementMixin
from stillroom.models.mixins.magpie import (
    MAGPIE_PRE_QUERY_TEMPLATES,
    MagpieAvailablePreQueryTemplates,
    MagpieChatTemplateMixin,
)

__all__ = [
    "MAGPIE_PRE_QUERY_TEMPLATES",
    "CudaDevicePlacementMixin",
    "MagpieAvailablePreQueryTemplates",
    "MagpieChatTemplateMixin",
]
