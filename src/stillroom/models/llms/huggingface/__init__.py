"""Hugging Face backends: `InferenceEndpointsLLM` (Inference Providers, dedicated Inference
Endpoints, TGI servers)."""

from stillroom.models.llms.huggingface.inference_endpoints import InferenceEndpointsLLM

__all__ = ["InferenceEndpointsLLM"]
