"""Saving and loading pipelines, and running them from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pipeline_helpers import Shout

from stillroom.cli.pipeline import parse_params
from stillroom.distiset import Distiset
from stillroom.errors import SerializationError, StillroomError
from stillroom.models import AsyncMockLLM
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration

pytestmark = pytest.mark.timeout(60)

HERE = Path(__file__).parent
SRC = HERE.parents[1] / "src"


def build() -> Pipeline:
    with Pipeline(name="saved", description="round trip") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": f"q{i}"} for i in range(5)], batch_size=2)
        task = TextGeneration(llm=AsyncMockLLM(responses="hello"), system_prompt="Be brief.")
        load >> task >> [Shout(name="loud"), Shout(name="louder")]
    return pipeline


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_round_trip_keeps_steps_connections_and_signature(tmp_path: Path, suffix: str) -> None:
    pipeline = build()
    path = pipeline.save(tmp_path / f"p{suffix}")
    with pytest.raises(SerializationError, match="--allow-module"):
        Pipeline.from_file(path)
    loaded = Pipeline.from_file(path, allowed_modules=["pipeline_helpers"])
    assert loaded.name == "saved" and loaded.description == "round trip"
    assert list(loaded.steps) == list(pipeline.steps)
    assert loaded.dag.edges == pipeline.dag.edges
    assert loaded.signature == pipeline.signature
    distiset = loaded.run(progress=False)
    assert set(distiset) == {"loud", "louder"}
    assert distiset["loud"]["train"]["shout"] == ["HELLO"] * 5


def test_a_file_alone_never_makes_stillroom_import_a_module(tmp_path: Path) -> None:
    path = build().save(tmp_path / "p.yaml")
    text = path.read_text().replace("module: pipeline_helpers", "module: not_imported_module_xyz")
    path.write_text(text)
    with pytest.raises(SerializationError, match="Refusing to import not_imported_module_xyz"):
        Pipeline.from_yaml(path)
    assert "not_imported_module_xyz" not in sys.modules


def test_parse_params_builds_nested_values() -> None:
    assert parse_params(
        [
            "gen.llm.generation_kwargs.temperature=0.7",
            "gen.input_batch_size=5",
            "gen.name_x=a=b",
            "s.flag=true",
        ]
    ) == {
        "gen": {
            "llm": {"generation_kwargs": {"temperature": 0.7}},
            "input_batch_size": 5,
            "name_x": "a=b",
        },
        "s": {"flag": True},
    }
    with pytest.raises(StillroomError, match=r"STEP\.FIELD=VALUE"):
        parse_params(["nofield=1"])


def cli(*args: str, cache_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE)]),
        "STILLROOM_CACHE_DIR": str(cache_dir),
    }
    return subprocess.run(
        [sys.executable, "-m", "stillroom", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_dry_run_processes_the_first_rows_only(tmp_path: Path, cache_dir: Path) -> None:
    config = build().save(tmp_path / "p.yaml")
    args = ["pipeline", "run", "--config", str(config), "--allow-module", "pipeline_helpers"]
    result = cli(*args, "--dry-run", "2", cache_dir=cache_dir)
    assert result.returncode == 0, result.stderr
    assert "dataset 'loud': 2 rows" in result.stderr and "LLM requests: 2 sent" in result.stderr
    full = cli(*args, cache_dir=cache_dir)
    assert full.returncode == 0, full.stderr
    assert "dataset 'loud': 5 rows" in full.stderr
    assert "LLM requests: 3 sent, 2 from cache" in full.stderr


def test_cli_runs_a_saved_pipeline_with_params_and_describes_it(
    tmp_path: Path, cache_dir: Path
) -> None:
    config = build().save(tmp_path / "p.yaml")
    out = tmp_path / "out"
    result = cli(
        "pipeline",
        "run",
        "--config",
        str(config),
        "--allow-module",
        "pipeline_helpers",
        "--param",
        "text_generation_0.llm.generation_kwargs.temperature=0.2",
        "--param",
        "text_generation_0.input_batch_size=3",
        "--output-dir",
        str(out),
        cache_dir=cache_dir,
    )
    assert result.returncode == 0, result.stderr
    assert "dataset 'loud': 5 rows" in result.stderr and "LLM requests: 5 sent" in result.stderr
    distiset = Distiset.load_from_disk(out)
    assert distiset["louder"]["train"]["shout"] == ["HELLO"] * 5
    saved = Pipeline.from_yaml(
        out / "distiset_configs" / "pipeline.yaml", allowed_modules=["pipeline_helpers"]
    )
    task = saved.get_step("text_generation_0")
    assert task.llm.generation_kwargs == {"temperature": 0.2} and task.input_batch_size == 3

    info = cli(
        "pipeline",
        "info",
        "--config",
        str(config),
        "--allow-module",
        "pipeline_helpers",
        cache_dir=cache_dir,
    )
    assert info.returncode == 0, info.stderr
    assert (
        "text_generation_0 (TextGeneration): instruction, system_prompt -> generation, model_name"
        in info.stdout
    )
    assert "generation_kwargs = {}" in info.stdout and "text_generation_0 >> loud" in info.stdout

    bad = cli(
        "pipeline",
        "run",
        "--config",
        str(config),
        "--allow-module",
        "pipeline_helpers",
        "--param",
        "text_generation_0.input_batch_sise=1",
        cache_dir=cache_dir,
    )
    assert bad.returncode == 1 and "Did you mean 'input_batch_size'" in bad.stderr
    refused = cli("pipeline", "info", "--config", str(config), cache_dir=cache_dir)
    assert refused.returncode == 1 and "--allow-module" in refused.stderr


def test_cli_strict_cache_refuses_a_damaged_cache(tmp_path: Path, cache_dir: Path) -> None:
    config = build().save(tmp_path / "p.yaml")
    args = ["pipeline", "run", "--config", str(config), "--allow-module", "pipeline_helpers"]
    assert cli(*args, cache_dir=cache_dir).returncode == 0
    (database,) = cache_dir.glob("pipelines/*/cache.sqlite")
    database.write_bytes(database.read_bytes()[:2000])
    strict = cli(*args, "--no-cache", "--strict-cache", cache_dir=cache_dir)
    assert strict.returncode == 1
    assert "damaged" in strict.stderr and "integrity check" in strict.stderr
    assert "LLM requests" not in strict.stderr
    lenient = cli(*args, "--no-cache", cache_dir=cache_dir)
    assert lenient.returncode == 0, lenient.stderr
    assert "integrity check" in lenient.stderr and "strict_cache" in lenient.stderr


SCRIPT = """
from stillroom.models import AsyncMockLLM
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration

with Pipeline(name="scripted") as my_pipeline:
    LoadDataFromDicts(data=[{"instruction": "q"}]) >> TextGeneration(
        llm=AsyncMockLLM(responses="hi")
    )

if __name__ == "__main__":
    raise SystemExit("the __main__ block must not run")
"""


def test_cli_runs_a_pipeline_defined_by_a_script(tmp_path: Path, cache_dir: Path) -> None:
    script = tmp_path / "make_pipeline.py"
    script.write_text(SCRIPT)
    base = ["pipeline", "run", "--script", str(script)]
    missing = cli(*base, cache_dir=cache_dir)
    assert missing.returncode != 0
    assert "no Pipeline named 'pipeline'" in missing.stderr and "my_pipeline" in missing.stderr
    result = cli(*base, "--pipeline-variable-name", "my_pipeline", cache_dir=cache_dir)
    assert result.returncode == 0, result.stderr
    assert "LLM requests: 1 sent" in result.stderr
    again = cli(
        *base, "--pipeline-variable-name", "my_pipeline", "--ignore-cache", cache_dir=cache_dir
    )
    assert again.returncode == 0, again.stderr
    assert "LLM requests: 1 sent" in again.stderr  # afresh, as --no-cache


def test_cli_reads_a_config_from_a_url(tmp_path: Path, cache_dir: Path) -> None:
    import functools
    import http.server
    import threading

    build().save(tmp_path / "p.yaml")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/p.yaml"
        info = cli(
            "pipeline",
            "info",
            "--config",
            url,
            "--allow-module",
            "pipeline_helpers",
            cache_dir=cache_dir,
        )
        assert info.returncode == 0, info.stderr
        assert "pipeline 'saved'" in info.stdout and "loud" in info.stdout
        gone = cli("pipeline", "info", "--config", url + ".missing", cache_dir=cache_dir)
        assert gone.returncode != 0 and "Cannot read" in gone.stderr
    finally:
        server.shutdown()
        server.server_close()
