"""stillroom: build synthetic datasets with LLMs, with distilabel's API.

Import what you need from the submodules, as with distilabel: `stillroom.steps`,
`stillroom.steps.tasks`, `stillroom.models` (or `stillroom.llms`), `stillroom.pipeline`.
"""

__version__ = "0.1.0"
