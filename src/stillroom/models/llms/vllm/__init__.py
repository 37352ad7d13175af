"""vLLM backends at distilabel's path (`stillroom.models.llms.vllm`): `vLLM`, a model run in
this process by vLLM's engine (`local.py`), and `ClientvLLM`, a vLLM server over HTTP
(`client.py`). The vllm library itself is imported only by `vLLM.load()`."""

from stillroom.models.llms.vllm.client import ClientvLLM
from stillroom.models.llms.vllm.local import vLLM

__all__ = ["ClientvLLM", "vLLM"]
