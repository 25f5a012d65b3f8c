"""One suite for the Memory protocol, run against every implementation: numpy (in memory and on disk)
and faiss with each index kind.  The hash embedder keeps it instant; test_memory.py runs the real one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from thinkgraph.memory import Item, Memory, MemoryStoreError, MemoryUsageError, open_memory
from thinkgraph.memory.embed import HashEmbedder
from thinkgraph.memory.faiss_store import FaissMemory
from thinkgraph.memory.numpy_store import NumpyMemory

Factory = Callable[..., Memory]

IMPLEMENTATIONS: dict[str, Callable[[Path | None], Memory]] = {
    "numpy-memory": lambda p: NumpyMemory(None, HashEmbedder()),
    "numpy-disk": lambda p: NumpyMemory(p, HashEmbedder()),
    "faiss-flat": lambda p: FaissMemory(p, HashEmbedder(), index="flat"),
    "faiss-hnsw": lambda p: FaissMemory(p, HashEmbedder(), index="hnsw"),
    "faiss-ivf": lambda p: FaissMemory(p, HashEmbedder(), index="ivf"),
    "faiss-auto-memory": lambda p: FaissMemory(None, HashEmbedder()),
}
PERSISTENT = {"numpy-disk", "faiss-flat", "faiss-hnsw", "faiss-ivf"}

FACTS = [
    Item("All cats are mammals.", {"kind": "fact", "lang": "en", "n": 1}, "cats"),
    Item("Tom is a cat.", {"kind": "fact", "lang": "en", "n": 2, "verified": True}, "tom"),
    Item("The rocket launched from Florida.", {"kind": "news", "lang": "en", "n": 3}, "rocket"),
    Item("猫是哺乳动物。", {"kind": "fact", "lang": "zh", "n": 4}, "zh-cats"),
]


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Memory]]:
    name = request.param
    opened: list[Memory] = []

    def factory() -> Memory:
        mem = IMPLEMENTATIONS[name](tmp_path / "store")
        opened.append(mem)
        return mem

    factory.persistent = name in PERSISTENT  # type: ignore[attr-defined]
    yield factory
    for m in opened:
        m.close()


def test_it_implements_the_protocol(make: Callable[[], Memory]) -> None:
    assert isinstance(make(), Memory)


def test_an_empty_store_answers_every_search_with_nothing(make: Callable[[], Memory]) -> None:
    mem = make()
    assert len(mem) == 0
    assert mem.search("anything") == []
    assert mem.search("anything", where={"kind": "fact"}) == []
    assert mem.search(np.ones(256, dtype=np.float32)) == []
    assert mem.stats()["items"] == 0
    assert mem.delete(["nope"]) == 0
    assert mem.add([]) == []


def test_a_store_of_one_item_returns_it_for_any_query(make: Callable[[], Memory]) -> None:
    mem = make()
    (ident,) = mem.add(["Tom is a cat."])
    for query in ("Tom is a cat.", "something else entirely", "猫"):
        hits = mem.search(query, k=5)
        assert [h.id for h in hits] == [ident]
    assert mem.search("Tom is a cat.")[0].score == pytest.approx(1.0, abs=1e-5)


def test_search_by_text_and_by_vector_ranks_the_nearest_first(make: Callable[[], Memory]) -> None:
    mem = make()
    assert mem.add(FACTS) == ["cats", "tom", "rocket", "zh-cats"]
    hits = mem.search("Tom is a cat", k=2)
    assert hits[0].id == "tom" and hits[0].text == "Tom is a cat." and hits[0].metadata["n"] == 2
    assert hits[0].score >= hits[1].score
    vec = HashEmbedder().embed(["The rocket launched"])[0]
    assert mem.search(vec, k=1)[0].id == "rocket"
    assert mem.search(vec.tolist(), k=1)[0].id == "rocket"  # a plain list works too
    assert len(mem.search("cat", k=10)) == 4
    assert mem.search("cat", k=0) == []


def test_a_query_in_another_script_finds_the_item_in_that_script(make: Callable[[], Memory]) -> None:
    mem = make()
    mem.add(FACTS)
    assert mem.search("猫是哺乳动物吗", k=1)[0].id == "zh-cats"


def test_filters_on_metadata(make: Callable[[], Memory]) -> None:
    mem = make()
    mem.add(FACTS)
    assert {h.id for h in mem.search("cat", k=10, where={"kind": "fact"})} == {"cats", "tom", "zh-cats"}
    assert {h.id for h in mem.search("cat", k=10, where={"kind": "fact", "lang": "zh"})} == {"zh-cats"}
    assert {h.id for h in mem.search("cat", k=10, where={"n": [1, 3]})} == {"cats", "rocket"}
    assert {h.id for h in mem.search("cat", k=10, where={"verified": True})} == {"tom"}
    assert {h.id for h in mem.search("cat", k=10, where={"verified": None})} == {"cats", "rocket", "zh-cats"}
    assert mem.search("cat", where={"kind": "nothing"}) == []
    assert mem.search("cat", where={"n": []}) == []
    with pytest.raises(MemoryUsageError, match="plain metadata key"):
        mem.search("cat", where={"bad key'": 1})
    with pytest.raises(MemoryUsageError, match="values must be"):
        mem.search("cat", where={"kind": {"nested": 1}})


def test_get_delete_and_replace_by_id(make: Callable[[], Memory]) -> None:
    mem = make()
    mem.add(FACTS)
    got = mem.get(["tom", "missing", "cats"])
    assert [i.id for i in got] == ["tom", "cats"] and got[0].metadata["n"] == 2
    assert got[0].vector is not None and len(got[0].vector) == 256
    assert mem.delete(["tom", "missing"]) == 1
    assert len(mem) == 3 and "tom" not in {h.id for h in mem.search("Tom is a cat", k=10)}
    mem.add([Item("The rocket landed in Texas.", {"kind": "news", "n": 5}, "rocket")])  # replaces
    assert len(mem) == 3
    (hit,) = mem.search("rocket", k=1, where={"kind": "news"})
    assert hit.text == "The rocket landed in Texas." and hit.metadata["n"] == 5


def test_a_failed_batch_adds_nothing(make: Callable[[], Memory]) -> None:
    mem = make()
    mem.add(FACTS[:1])
    with pytest.raises(MemoryUsageError, match="JSON"):
        mem.add([Item("fine"), Item("bad", {"x": object()})])
    with pytest.raises(MemoryUsageError, match="same id twice"):
        mem.add([Item("a", id="dup"), Item("b", id="dup")])
    with pytest.raises(MemoryUsageError, match="vectors of size"):
        mem.add([Item("a"), Item("b", vector=[1.0, 2.0])])
    assert len(mem) == 1


def test_misuse_raises_with_the_fix(make: Callable[[], Memory]) -> None:
    mem = make()
    mem.add(FACTS)
    with pytest.raises(MemoryUsageError, match="256-d"):
        mem.search([1.0, 0.0, 0.0])
    with pytest.raises(MemoryUsageError, match="pass a str, an Item"):
        mem.add([42])  # type: ignore[list-item]
    mem.close()
    with pytest.raises(MemoryUsageError, match="closed"):
        mem.search("cat")


def test_it_reopens_with_everything_committed(make: Callable[[], Memory]) -> None:
    if not make.persistent:  # type: ignore[attr-defined]
        pytest.skip("an in-memory store")
    mem = make()
    mem.add(FACTS)
    mem.delete(["rocket"])
    before = [(h.id, round(h.score, 5)) for h in mem.search("cat", k=10)]
    mem.close()
    again = make()
    assert len(again) == 3
    assert [(h.id, round(h.score, 5)) for h in again.search("cat", k=10)] == before
    stats = again.stats()
    assert stats["items"] == 3 and stats["dim"] == 256 and stats["embedder"] == "hash" and stats["batches"] == 2
    again.add([Item("Felix is a cat.", {"kind": "fact"}, "felix")])
    assert again.search("Felix is a cat", k=1)[0].id == "felix"


def test_two_handles_on_one_folder_see_each_others_batches(make: Callable[[], Memory]) -> None:
    if not make.persistent:  # type: ignore[attr-defined]
        pytest.skip("an in-memory store")
    a, b = make(), make()
    a.add(FACTS[:2])
    assert {h.id for h in b.search("cat", k=10)} == {"cats", "tom"}
    b.delete(["cats"])
    b.add(FACTS[2:])
    assert {h.id for h in a.search("cat", k=10)} == {"tom", "rocket", "zh-cats"}


def test_open_memory_refuses_another_embedder_and_names_the_stored_one(tmp_path: Path) -> None:
    mem = open_memory(tmp_path / "s", HashEmbedder())
    mem.add(["x"])
    mem.close()
    with pytest.raises(MemoryStoreError, match="embedder='hash'"):
        open_memory(tmp_path / "s", HashEmbedder(64))
    reopened = open_memory(tmp_path / "s")  # the store's own embedder, from its spec
    assert reopened.search("x")[0].text == "x"
    reopened.close()
    with pytest.raises(MemoryUsageError, match="backend"):
        open_memory(None, backend="annoy")
    with pytest.raises(MemoryUsageError, match="needs faiss"):
        open_memory(None, backend="numpy", index="hnsw")
