"""A store killed with SIGKILL in the middle of adding 10k items reopens to its last committed batch:
it opens, answers searches, and holds exactly the items of the batches that committed — wherever the
kill lands (between batches, inside the SQLite transaction, while the index file is being written)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from thinkgraph.memory.faiss_store import INDEX_FILE, FaissMemory

BATCH = 500
TOTAL = 10_000
DIM = 64

CHILD = (
    textwrap.dedent(
        """
    import os, sys, time
    import numpy as np
    from thinkgraph.memory import Item
    from thinkgraph.memory.faiss_store import FaissMemory

    path, index, stop_where, stop_batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

    class Store(FaissMemory):
        def _before_commit(self, batch):
            if stop_where == "transaction" and batch == stop_batch:
                print(f"inside {batch}", flush=True)
                time.sleep(60)

    if stop_where == "index-file":
        real_fsync = os.fsync

        def slow_fsync(fd):
            real_fsync(fd)
            print("writing index", flush=True)
            time.sleep(60)

        os.fsync = slow_fsync

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((TOTAL, DIM)).astype(np.float32)
    mem = Store(path, None, index=index)
    for b in range(TOTAL // BATCH):
        items = [Item(f"item {n}", {"batch": b + 1}, f"i{n}", vectors[n]) for n in range(b * BATCH, (b + 1) * BATCH)]
        mem.add(items)
        print(f"committed {b + 1}", flush=True)
    print("done", flush=True)
    time.sleep(60)
    """
    )
    .replace("TOTAL", str(TOTAL))
    .replace("DIM", str(DIM))
    .replace("BATCH", str(BATCH))
)


def _vectors() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((TOTAL, DIM)).astype(np.float32)


def _run_and_kill(path: Path, index: str, stop_where: str, stop_batch: int, kill_on: str) -> int:
    """Start the writer, SIGKILL it when it prints ``kill_on``; returns the last batch it reported."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), index, stop_where, str(stop_batch)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "THINKGRAPH_THREADS": "1"},
    )
    committed = 0
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("committed"):
                committed = int(line.split()[1])
            if line.startswith(kill_on):
                break
        else:
            pytest.fail("the writer ended before the kill point")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return committed


def _check_store(path: Path, index: str, committed_batches: set[int]) -> int:
    """The reopened store holds exactly the items of whole committed batches, and searches find them."""
    vectors = _vectors()
    mem = FaissMemory(path, None, index=index)
    try:
        n = len(mem)
        assert n % BATCH == 0 and n // BATCH in committed_batches, (n, committed_batches)
        items = {i.id for i in mem.items()}
        assert items == {f"i{k}" for k in range(n)}
        assert mem.stats()["index_entries"] == n
        for k in (0, n // 2, n - 1):
            assert mem.search(vectors[k], k=1)[0].id == f"i{k}"
        if n < TOTAL:  # an item of the killed batch is nowhere
            assert all(h.id != f"i{n}" for h in mem.search(vectors[n], k=10))
        # the store goes on: the next batch commits and is found
        mem.add([{"text": "after the crash", "id": "after", "vector": vectors[0].tolist()}])
        assert len(mem) == n + 1
    finally:
        mem.close()
    return n


@pytest.mark.parametrize("index", ["flat", "hnsw"])
def test_killed_inside_the_transaction_of_batch_8_keeps_batches_1_to_7(tmp_path: Path, index: str) -> None:
    committed = _run_and_kill(tmp_path / "s", index, "transaction", 8, "inside 8")
    assert committed == 7
    assert _check_store(tmp_path / "s", index, {7}) == 7 * BATCH


def test_killed_while_writing_the_index_file_reopens_from_the_committed_rows(tmp_path: Path) -> None:
    # the index file is first written after 5,000 items (batch 10): the kill leaves a half-done temp file
    committed = _run_and_kill(tmp_path / "s", "flat", "index-file", 0, "writing index")
    assert committed == 9  # batch 10 committed in SQLite, its index file was being written
    leftovers = list((tmp_path / "s").glob(f"{INDEX_FILE}.tmp-*"))
    assert leftovers and not (tmp_path / "s" / INDEX_FILE).exists()
    assert _check_store(tmp_path / "s", "flat", {10}) == 10 * BATCH
    assert not list((tmp_path / "s").glob(f"{INDEX_FILE}.tmp-*"))  # the dead writer's temp file is gone


def test_killed_at_an_arbitrary_moment_between_or_during_batches(tmp_path: Path) -> None:
    committed = _run_and_kill(tmp_path / "s", "flat", "never", 0, "committed 12")
    # the kill lands after batch 12 was reported: during a later batch, or between two (a busy machine may
    # let the writer commit a few more before the signal arrives) — never inside half a batch
    assert committed == 12
    assert _check_store(tmp_path / "s", "flat", set(range(12, TOTAL // BATCH + 1))) >= 12 * BATCH


def test_a_corrupt_index_file_is_rebuilt_from_the_items(tmp_path: Path) -> None:
    vectors = _vectors()[:1000]
    mem = FaissMemory(tmp_path / "s", None, index="flat")
    mem.add([{"text": f"item {k}", "id": f"i{k}", "vector": vectors[k].tolist()} for k in range(1000)])
    mem.close()
    index_file = tmp_path / "s" / INDEX_FILE
    data = bytearray(index_file.read_bytes())
    data[-100:] = b"\0" * 100  # the checksum no longer matches
    index_file.write_bytes(bytes(data))
    again = FaissMemory(tmp_path / "s", None)
    assert again.search(vectors[999], k=1)[0].id == "i999" and len(again) == 1000
    again.close()
    index_file.write_bytes(b"garbage")
    third = FaissMemory(tmp_path / "s", None)
    assert third.search(vectors[3], k=1)[0].id == "i3"
    third.close()
