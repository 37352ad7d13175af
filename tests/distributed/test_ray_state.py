"""The Ray run's state under a URL (`RayStore`), without Ray: a checkpoint covers exactly the
ledger segments written before it, a segment whose checkpoint never landed is dropped, and a
write that fails stops the run with `StorageError`."""

from __future__ import annotations

import pickle
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from stillroom.errors import StorageError
from stillroom.pipeline.ray.state import RayStore, read_counts

SIGNATURE = "sig"


def checkpointed(url: str, consumed: list[bytes], batch: bytes) -> RayStore:
    store = RayStore(url)
    store.load_run(SIGNATURE)
    store.begin("run-1")
    store.consume("answer", consumed)
    store.save_run(SIGNATURE, "running", b"state", [("answer", 1, batch)], [], 1.0)
    store.commit()
    return store


def test_a_checkpoint_covers_the_ledgers_before_it_and_an_orphan_segment_is_dropped(
    tmp_path: Path,
) -> None:
    url = (tmp_path / "state").as_uri()
    first = checkpointed(url, [b"a" * 16, b"a" * 16, b"b" * 16], b"batch one")
    # a driver that died between its ledger segment and its checkpoint left this behind
    orphan = tmp_path / "state" / "runs" / SIGNATURE / "ledger" / "run-1-00000001.pkl"
    orphan.write_bytes(pickle.dumps({"answer": [b"c" * 16]}))

    again = RayStore(url)
    status, state, batches = again.load_run(SIGNATURE)
    assert (status, state, batches) == ("running", b"state", [("answer", 1, b"batch one")])
    again.begin("run-1")
    assert not orphan.exists()
    ledgers = again.committed_ledgers()
    assert ledgers == first.committed_ledgers() and len(ledgers) == 1
    assert read_counts(again.root, ledgers, "answer") == {b"a" * 16: 2, b"b" * 16: 1}

    # the next checkpoint adds a segment; removing the batch leaves none in flight
    again.consume("answer", [b"a" * 16])
    again.save_run(SIGNATURE, "running", b"later", [], [("answer", 1)], 2.0)
    again.commit()
    third = RayStore(url)
    assert third.load_run(SIGNATURE) == ("running", b"later", [])
    third.begin("run-1")
    assert read_counts(third.root, third.committed_ledgers(), "answer")[b"a" * 16] == 3

    # a fresh run forgets the old one's counts
    third.clear_run(SIGNATURE, run="run-1")
    third.begin("run-2")
    assert third.committed_ledgers() == []


def test_a_write_that_fails_raises_storage_error_and_every_later_one_too(tmp_path: Path) -> None:
    url = str(tmp_path / "state")
    store = RayStore(url)
    store.load_run(SIGNATURE)
    store.begin("run-1")
    (tmp_path / "state" / "runs").write_text("not a folder")  # a checkpoint cannot go there
    store.save_run(SIGNATURE, "running", b"state", [], [], 1.0)
    with pytest.raises(StorageError, match="Cannot write the checkpoint"):
        store.commit()
    assert store.failure is not None
    with pytest.raises(StorageError):
        store.commit()


def test_a_leafs_parts_no_checkpoint_recorded_are_removed_and_the_recorded_ones_copied(
    tmp_path: Path,
) -> None:
    from stillroom.pipeline.ray.leaves import ReplicaParts
    from stillroom.pipeline.ray.state import StateRoot
    from stillroom.pipeline.writers import JsonlWriter

    root = StateRoot(str(tmp_path / "state"))
    folder = root.join("leaves", "answer")
    for name in ("ray-0000000001-a.jsonl", "ray-0000000002-b.jsonl"):
        root.write(f"{folder}/{name}", f'{{"part": "{name}"}}\n'.encode())
    local = tmp_path / "data" / "train"
    local.mkdir(parents=True)
    (local / "ray-0000000002-b.jsonl").write_bytes(b"stale copy\n")
    parts = ReplicaParts(JsonlWriter(local), root, folder)
    parts.restore({"rows": 0, "offset": 0, "replica_parts": [["ray-0000000001-a.jsonl", 1]]}, [])
    assert [p.rsplit("/", 1)[-1] for p in root.listing(folder)] == ["ray-0000000001-a.jsonl"]
    assert parts.rows == 1 and parts.next_name().startswith("ray-0000000002-")
    parts.close()
    assert sorted(p.name for p in local.iterdir()) == ["00000.jsonl", "ray-0000000001-a.jsonl"]
    assert (
        local / "ray-0000000001-a.jsonl"
    ).read_bytes() == b'{"part": "ray-0000000001-a.jsonl"}\n'


def test_replicas_write_leaves_only_where_the_driver_reads_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ray = pytest.importorskip("ray")
    from stillroom.pipeline.ray.engine import replicas_reach

    nodes = [
        {"Alive": True, "NodeManagerAddress": "10.0.0.1"},
        {"Alive": False, "NodeManagerAddress": "10.0.0.2"},
    ]
    monkeypatch.setattr(ray, "nodes", lambda: nodes)
    assert replicas_reach(None)  # one machine: its disk is every replica's
    nodes[1]["Alive"] = True
    assert not replicas_reach(None)  # two machines, the driver's disk: rows come back
    assert replicas_reach("s3://bucket/runs")


def test_a_step_counter_does_not_count_what_an_abandoned_attempt_asks_for() -> None:
    """A replica lost with its node runs on for a moment after its unit was abandoned: its
    requests must not take the occurrences the unit's new attempt keys (they would be sent
    again under new keys)."""
    from stillroom.pipeline.ray.counter import StepCounter

    counter = StepCounter({b"kept": 1})
    assert counter.occurrences([(b"a", "dead"), (b"kept", "dead")]) == [0, 1]
    counter.abandon("dead")
    assert counter.occurrences([(b"b", "dead")]) == [0]  # the dying replica, still asking
    assert counter.occurrences([(b"a", "new"), (b"b", "new"), (b"kept", "new")]) == [0, 0, 1]
    counter.settle(["new"])
    assert counter.occurrences([(b"a", None), (b"b", None)]) == [1, 1]


def test_parts_on_an_object_store_are_removed_in_bulk(
    s3_options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from stillroom.pipeline.ray.state import StateRoot

    root = StateRoot("s3://stillroom-state/bulk", s3_options)
    folder = root.join("runs", SIGNATURE, "between")
    parts = [f"{folder}/step-{i}.pkl" for i in range(30)]
    for part in parts:
        root.write(part, b"rows")
    removed: list[list[str]] = []
    bulk = root.fs.rm

    def recording_rm(paths: list[str]) -> None:
        removed.append(list(paths))
        bulk(paths)

    def one_by_one(path: str) -> None:
        raise AssertionError(f"{path} removed alone")

    monkeypatch.setattr(root.fs, "rm", recording_rm)
    monkeypatch.setattr(root.fs, "rm_file", one_by_one)
    root.remove([*parts, f"{folder}/gone-already.pkl"])
    assert len(removed) == 1 and root.listing(folder) == []
    root.remove([])  # nothing to do: no request
    assert len(removed) == 1


def test_a_replica_journal_writes_a_loop_turns_replies_together_and_keeps_them(
    tmp_path: Path,
) -> None:
    """On a directory, the replies of one turn of the replica's event loop go out in one
    `write` as the turn ends (none is held past it); a reply from a thread, or a `flush`,
    is written at once; every reply is read back by the next replica."""
    import asyncio

    from stillroom.pipeline.ray.journal import ReplicaJournal, read_replies
    from stillroom.pipeline.ray.state import StateRoot

    root = StateRoot(str(tmp_path / "state"))
    journal = ReplicaJournal(root, "answer", {}, {})
    writes: list[int] = []

    class Counted:  # the segment the journal opens, its writes counted in lines
        def __init__(self, path: Path) -> None:
            path.parent.mkdir(parents=True)
            self.file = path.open("ab", buffering=0)

        def write(self, data: bytes) -> int:
            writes.append(data.count(b"\n"))
            return int(self.file.write(data))

        def close(self) -> None:
            self.file.close()

    journal._file = Counted(Path(f"{journal._folder}/{journal._writer}-0.log"))

    async def one_turn() -> list[int]:
        for i in range(5):
            journal.put_request(bytes([i]) * 16, {"generations": [f"reply {i}"]})
        before = list(writes)
        await asyncio.sleep(0)  # the turn ends
        return before

    assert asyncio.run(one_turn()) == []  # nothing written within the turn
    assert writes == [5]  # then all five in one write
    journal.put_request(b"t" * 16, {"generations": ["from a thread"]})  # no running loop
    assert writes == [5, 1]
    # one request's replies (an embeddings request's texts) from a thread: one write
    batch = [(bytes([10 + i]) * 16, {"embedding": [float(i)]}) for i in range(3)]
    thread = threading.Thread(target=journal.put_requests, args=(batch,))
    thread.start()
    thread.join()
    assert writes == [5, 1, 3]

    async def flushed() -> None:
        journal.put_request(b"f" * 16, {"generations": ["flushed"]})
        journal.flush()  # before a unit's rows leave
        assert writes == [5, 1, 3, 1]

    asyncio.run(flushed())
    journal.close()
    replies = read_replies(root, "answer", None)
    assert len(replies) == 10 and replies[b"\x04" * 16] == '{"generations":["reply 4"]}'
    assert replies[b"\x0c" * 16] == '{"embedding":[2.0]}'


def test_a_replica_journal_on_an_object_store_puts_one_requests_replies_in_one_part() -> None:
    """On an object store each flush publishes a part; the replies of one request go into
    one part even when the flush interval ends among them (here at every reply)."""
    from stillroom.pipeline.ray.journal import ReplicaJournal, read_replies
    from stillroom.pipeline.ray.state import StateRoot

    root = StateRoot(f"memory://journal-parts-{uuid.uuid4().hex}")
    journal = ReplicaJournal(root, "embed", {}, {}, flush_interval=0.0)
    journal.put_requests([(bytes([i]) * 16, {"embedding": [float(i)]}) for i in range(4)])
    journal.put_request(b"o" * 16, {"embedding": [9.0]})
    journal.close()
    parts = sorted(root.listing(root.join("requests", "embed")))
    assert [root.read(part).count(b"\n") for part in parts] == [4, 1]
    assert len(read_replies(root, "embed", None)) == 5


def test_a_journal_write_that_fails_at_a_turns_end_fails_the_unit_and_keeps_the_replies(
    tmp_path: Path,
) -> None:
    """A turn-end write runs as a loop callback, whose error the loop would only log: it is
    raised by the unit's `flush` instead, and the replies stay pending, so a later write
    (after a short one, from where it stopped) keeps every line whole."""
    import asyncio
    import errno

    from stillroom.pipeline.ray.journal import ReplicaJournal, read_replies
    from stillroom.pipeline.ray.state import StateRoot

    root = StateRoot(str(tmp_path / "state"))
    journal = ReplicaJournal(root, "answer", {}, {})
    path = Path(f"{journal._folder}/{journal._writer}-0.log")
    path.parent.mkdir(parents=True)
    behaviour = ["full"]

    class Disk:  # full, then writing 7 bytes at a time, then healthy
        def __init__(self) -> None:
            self.file = path.open("ab", buffering=0)

        def write(self, data: bytes) -> int:
            if behaviour[0] == "full":
                raise OSError(errno.ENOSPC, "No space left on device")
            return int(self.file.write(data[:7] if behaviour[0] == "short" else data))

        def close(self) -> None:
            self.file.close()

    journal._file = Disk()

    async def unit() -> None:
        journal.put_request(b"a" * 16, {"generations": ["first"]})
        journal.put_request(b"b" * 16, {"generations": ["second"]})
        await asyncio.sleep(0)  # the turn ends: its write fails
        journal.flush()  # before the unit's result leaves

    with pytest.raises(OSError, match="No space left"):
        asyncio.run(unit())
    assert path.read_bytes() == b""
    behaviour[0] = "short"
    journal.flush()  # the retry, 7 bytes per write
    behaviour[0] = "healthy"
    journal.close()
    replies = read_replies(root, "answer", None)
    assert replies == {
        b"a" * 16: '{"generations":["first"]}',
        b"b" * 16: '{"generations":["second"]}',
    }


def test_a_journal_write_scheduled_on_a_loop_that_closed_does_not_hold_later_turns(
    tmp_path: Path,
) -> None:
    """A turn-end write queued on a loop that stopped and closed before running it: the
    next loop's turns are still written as they end, the stranded reply with them."""
    import asyncio

    from stillroom.pipeline.ray.journal import ReplicaJournal, read_replies
    from stillroom.pipeline.ray.state import StateRoot

    root = StateRoot(str(tmp_path / "state"))
    journal = ReplicaJournal(root, "answer", {}, {})

    async def stranded() -> None:
        async def put() -> None:
            journal.put_request(b"s" * 16, {"generations": ["stranded"]})

        asyncio.get_running_loop().create_task(put())  # runs as the loop stops

    loop = asyncio.new_event_loop()
    loop.run_until_complete(stranded())
    loop.close()
    assert journal._pending  # its write never ran

    async def later() -> int:
        journal.put_request(b"l" * 16, {"generations": ["later"]})
        await asyncio.sleep(0)  # the turn ends
        return len(journal._pending)

    assert asyncio.run(later()) == 0
    assert set(read_replies(root, "answer", None)) == {b"s" * 16, b"l" * 16}
    journal.close()
