"""CUDA placement logic (no GPU needed), and the vLLM classes where vllm is missing; the vLLM
run itself needs vllm and a GPU (MlxLLM's tests are in test_mlx_llm.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stillroom.errors import MissingExtraError, StillroomError
from stillroom.models import vLLM, vLLMEmbeddings
from stillroom.models.mixins import cuda_device_placement as placement
from stillroom.models.mixins.cuda_device_placement import CudaDevicePlacementMixin


class Model(CudaDevicePlacementMixin):
    pass


def _model(tmp_path: Path, name: str, **fields: object) -> Model:
    model = Model(**fields)  # type: ignore[arg-type]
    model._placement_file = tmp_path / "placement.json"
    model._llm_identifier = name
    return model


def test_replicas_get_different_free_devices_within_cuda_visible_devices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3,5")
    first, second = _model(tmp_path, "gen-replica-0"), _model(tmp_path, "gen-replica-1")
    assert first.place_on_cuda_devices() == [2]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3,5")  # a replica's own process
    assert second.place_on_cuda_devices() == [3]
    assert placement.os.environ["CUDA_VISIBLE_DEVICES"] == "3"
    first.release_cuda_devices()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3,5")
    third = _model(tmp_path, "gen-replica-2")
    third._desired_num_gpus = 2
    assert third.place_on_cuda_devices() == [2, 5]


def test_explicit_devices_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    with pytest.raises(StillroomError, match=r"names \[7\]"):
        _model(tmp_path, "a", cuda_devices=[7]).place_on_cuda_devices()
    assert _model(tmp_path, "b", cuda_devices=[1]).place_on_cuda_devices() == [1]


def test_disabled_placement_leaves_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert _model(tmp_path, "a", disable_cuda_device_placement=True).place_on_cuda_devices() == []
    assert placement.os.environ["CUDA_VISIBLE_DEVICES"] == "0,1"


def test_bad_cuda_visible_devices_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-1234")
    with pytest.raises(StillroomError, match="comma-separated"):
        placement.visible_devices()


def test_vllm_without_the_library_names_the_extra() -> None:
    try:
        import vllm  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("vllm is installed: the missing-extra error cannot happen here")
    for model in (vLLM(model="m"), vLLMEmbeddings(model="m")):
        with pytest.raises(MissingExtraError, match=r"stillroom\[vllm\]"):
            model.load()


@pytest.mark.gpu
@pytest.mark.timeout(600)
def test_vllm_generates_on_a_gpu(scripted_lm: Path) -> None:
    try:
        import torch
        import vllm  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"needs vllm and a CUDA GPU: {exc}")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU: torch sees none")
    llm = vLLM(model=str(scripted_lm), extra_kwargs={"gpu_memory_utilization": 0.2})
    llm.load()
    try:
        (output,) = llm.generate([[{"role": "user", "content": "Who?"}]], temperature=0.0)
    finally:
        llm.unload()
    assert output["generations"] == ['{"name": "Ada", "age": 36}']
