"""`make_generator_step`: the generator step that feeds rows given in code to a pipeline.

It is what `Pipeline.run(dataset=...)` uses, and public under distilabel's name so that
code building its first step from a list, a `datasets.Dataset` or a pandas DataFrame ports
unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stillroom.errors import StillroomUserError
from stillroom.steps.base import StepResources
from stillroom.steps.generators.data import LoadDataFromDicts
from stillroom.steps.generators.huggingface import LoadDataFromHub

if TYPE_CHECKING:
    from stillroom.steps.base import GeneratorStep


def make_generator_step(
    dataset: Any,
    pipeline: Any = None,
    batch_size: int = 50,
    input_mappings: dict[str, str] | None = None,
    output_mappings: dict[str, str] | None = None,
    resources: StepResources | None = None,
    repo_id: str | None = "default_name",
) -> GeneratorStep:
    """A generator step yielding the rows of `dataset` in batches of `batch_size`.

    A list of dicts becomes a `LoadDataFromDicts`; a `datasets.Dataset` or a pandas
    DataFrame a `LoadDataFromHub` that reads the in-memory dataset instead of the Hub
    (`repo_id` only names it). `pipeline` is the pipeline the step joins (the one of the
    enclosing `with` block when None).
    """
    common: dict[str, Any] = {
        "batch_size": batch_size,
        "input_mappings": input_mappings or {},
        "output_mappings": output_mappings or {},
        "resources": resources or StepResources(),
    }
    if pipeline is not None:
        common["pipeline"] = pipeline
    if isinstance(dataset, list):
        return LoadDataFromDicts(data=dataset, **common)
    if _is_dataframe(dataset):
        from datasets import Dataset  # the [hf] extra; a DataFrame implies it is wanted

        dataset = Dataset.from_pandas(dataset, preserve_index=False)
    if type(dataset).__name__ != "Dataset" or not hasattr(dataset, "column_names"):
        raise StillroomUserError(
            f"make_generator_step got {type(dataset).__name__}; expected a list of dicts, a "
            "datasets.Dataset or a pandas DataFrame."
        )
    step = LoadDataFromHub(repo_id=repo_id, **common)
    step._in_memory = dataset
    step._dataset = dataset
    return step


def _is_dataframe(value: Any) -> bool:
    return type(value).__name__ == "DataFrame" and type(value).__module__.startswith("pandas")
