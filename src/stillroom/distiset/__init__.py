"""`Distiset`: the datasets a pipeline run produced, one `datasets.DatasetDict` per leaf
step (distilabel's `distilabel.distiset`, renamed).

`distiset["default"]["train"]` with one leaf step, `distiset["<leaf step>"]["train"]` with
several. The rows are memory-mapped from Arrow files made from the run's JSONL/Parquet files,
so returning a Distiset costs little memory. `datasets`, `pyarrow`, `fsspec` and
`huggingface_hub` are imported when a Distiset is built or used, never by `import stillroom`.

- `base.py`: the class; `create.py`: a run's folder -> Distiset; `arrow_files.py`: the run's
  files -> Arrow; `io.py`: save/load (distilabel's folder layout, fsspec URLs); `hub.py`:
  `push_to_hub`; `card.py`: the dataset card; `images.py`: `transform_columns_to_image`.
"""

from stillroom.distiset.base import Distiset, SavablePipeline
from stillroom.distiset.create import create_distiset

__all__ = ["Distiset", "SavablePipeline", "create_distiset"]
