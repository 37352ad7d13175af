"""`Pipeline.draw`: the graph as a Mermaid flowchart, written as text.

distilabel renders the chart through an online service into a PNG; stillroom writes the
Mermaid source instead (no network), which GitHub, mkdocs-material and `mmdc` (mermaid-cli)
render. Each node shows the step's name and class; each edge, with `show_edge_labels`, the
columns the upstream step outputs.
"""

from __future__ import annotations

from pathlib import Path

from stillroom.errors import StillroomUserError
from stillroom.pipeline.graph import DAG

MERMAID_SUFFIXES = (".mmd", ".mermaid", ".md")


def mermaid_source(dag: DAG, top_to_bottom: bool = False, show_edge_labels: bool = True) -> str:
    """The Mermaid flowchart of `dag` (left to right unless `top_to_bottom`)."""
    lines = [f"flowchart {'TB' if top_to_bottom else 'LR'}"]
    ids = {name: f"step{index}" for index, name in enumerate(dag.steps)}
    for name, step in dag.steps.items():
        lines.append(f'    {ids[name]}["{_escaped(name)}<br/><i>{type(step).__name__}</i>"]')
    for source, target in dag.edges:
        columns = ", ".join(dag.steps[source].get_outputs())
        label = f'|"{_escaped(columns)}"|' if show_edge_labels and columns else ""
        lines.append(f"    {ids[source]} -->{label} {ids[target]}")
    return "\n".join(lines) + "\n"


def _escaped(text: str) -> str:
    return text.replace('"', "#quot;")


def write_mermaid(path: str | Path, source: str, pipeline_name: str) -> Path:
    """Write `source` to `path` (.mmd/.mermaid as is, .md inside a ```mermaid block)."""
    target = Path(path)
    if target.suffix.lower() not in MERMAID_SUFFIXES:
        raise StillroomUserError(
            f"Pipeline {pipeline_name!r}: draw() writes the graph as Mermaid text, not an image "
            f"({target.name!r}); give a path ending in .mmd or .md, and render it with "
            "mermaid-cli (mmdc) or any Markdown viewer that shows Mermaid."
        )
    text = f"```mermaid\n{source}```\n" if target.suffix.lower() == ".md" else source
    target.write_text(text, encoding="utf-8")
    return target
