"""A real full disk: the cache directory on a tmpfs of a few hundred KB.

The run must stop within seconds with the ENOSPC message (never hang, never turn a received
reply into a failed row); once space is freed, the rerun completes every row once and sends
no request whose reply the first run had saved. Mounting needs root (CI runs as root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from resume_helpers import check_complete, finish, recorded, saved_prompts, start

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"this sandbox cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_cache_disk_stops_the_run_then_resumes(tmp_path: Path, small_disk: Path) -> None:
    record = tmp_path / "requests.txt"
    padding = {"REPLY_PADDING": "1500"}  # 300 replies of 1.5 KB do not fit in 256 KB
    began = time.monotonic()
    code, _, err = finish(start(record, small_disk, latency=0.005, extra_env=padding))
    assert code != 0
    assert time.monotonic() - began < 45, "the run did not stop promptly"
    assert "No space left on device" in err and "run the pipeline again to resume" in err
    assert "no reply for this row" not in err
    first = Counter(recorded(record))
    assert 0 < len(first) < 300
    saved = saved_prompts(small_disk)

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    check_complete(
        record,
        small_disk,
        may_repeat=frozenset(set(first) - saved),
        extra_env=padding,
    )
