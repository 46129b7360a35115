"""Crash test for vector collections: a child upserts points with payloads into a collection
with payload indexes, deletes by id and by filter, flushes and compacts (a small
segment_size, so segments seal in the background and get extended and rewritten),
acknowledging each call; it is SIGKILLed at random instants. After every kill a fresh
writer opens the lake (replaying the write-ahead log, dropping a torn tail) and compares
every point (id, payload, exact vector) and the payload-indexed counts with the model built
from the acknowledged operations: the in-flight operation is wholly there or wholly absent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.crash._harness import run_crash_test

import lakebed

DIM = 8
GROUPS = 5

WORKLOAD = r"""
import random
import numpy as np
import lakebed

DIM, GROUPS = 8, 5
rng = random.Random(SEED)
with lakebed.connect(PATH, segment_size=60, fsync="always") as lake:
    cols = lake.collections
    if cols.exists("c"):
        col = cols.open("c")
    else:
        col = cols.create("c", dim=DIM, metric="l2")
        col.create_payload_index("g", "integer")
        col.create_payload_index("tag", "keyword")
    while True:
        r = rng.random()
        if r < 0.6:
            ids = sorted(rng.sample(range(400), rng.randint(1, 25)))
            seed = rng.randrange(2**31)
            begin({"op": "upsert", "ids": ids, "seed": seed})
            vecs = np.random.default_rng(seed).standard_normal((len(ids), DIM)).astype("float32")
            col.upsert(ids, vecs, payloads=[{"g": (seed + i) % GROUPS, "tag": f"t{seed % 3}", "i": i}
                                            for i in ids])
        elif r < 0.75:
            ids = rng.sample(range(400), rng.randint(1, 10))
            begin({"op": "delete", "ids": ids})
            col.delete(ids=ids)
        elif r < 0.85:
            g = rng.randrange(GROUPS)
            tag = f"t{rng.randrange(3)}"
            begin({"op": "delete_filter", "g": g, "tag": tag})
            col.delete(filter={"g": g, "tag": tag})
        elif r < 0.96:
            begin({"op": "flush"})
            col.flush()
        else:
            begin({"op": "compact"})
            col.compact()
        ack()
"""

Model = dict[int, tuple[int, int, int, str]]  # id -> (seed, row in its batch, g, tag)


def _apply(model: Model, op: dict[str, Any]) -> Model:
    out = dict(model)
    if op["op"] == "upsert":
        for pos, i in enumerate(op["ids"]):
            out[i] = (op["seed"], pos, (op["seed"] + i) % GROUPS, f"t{op['seed'] % 3}")
    elif op["op"] == "delete":
        for i in op["ids"]:
            out.pop(i, None)
    elif op["op"] == "delete_filter":
        out = {i: v for i, v in out.items() if not (v[2] == op["g"] and v[3] == op["tag"])}
    return out


def _payloads(model: Model) -> dict[int, tuple[int, str]]:
    """id -> (g, tag): what the collection's payloads must say."""
    return {i: (v[2], v[3]) for i, v in model.items()}


def check(path: Path, acked: list[dict[str, Any]], pending: dict[str, Any] | None) -> bool:
    model: Model = {}
    for op in acked:
        model = _apply(model, op)
    with lakebed.connect(path, segment_size=60) as lake:
        if not lake.collections.exists("c"):
            assert not model, "acknowledged writes but the collection is gone"
            return False
        col = lake.collections.open("c")
        points = col.scroll(limit=10_000)[0]
        seen = {p.id: (p.payload["g"], p.payload["tag"]) for p in points}
        assert len(points) == len(seen) == col.count(), "an id appears twice"
        alt = _apply(model, pending) if pending is not None else None
        # the candidates the payloads allow: without the in-flight operation, with it; an
        # upsert can leave every payload as it was, and then only the vectors can tell
        candidates = [(m, applied) for m, applied in ((model, False), (alt, True))
                      if m is not None and _payloads(m) == seen]
        if not candidates:
            missing = sorted(set(model) - set(seen))[:5]
            extra = sorted(set(seen) - set(model))[:5]
            raise AssertionError(
                f"collection differs from the acknowledged writes (in flight: "
                f"{pending and pending['op']}): missing ids {missing}, extra ids {extra}"
            )
        # exact vectors, and the payload indexes agree with the payloads
        sizes = {op["seed"]: len(op["ids"]) for op in [*acked, pending or {}] if op.get("op") == "upsert"}
        stored = {int(p.id): p.vector for p in col.get(list(seen), include_vectors=True)}

        def vectors_match(m: Model) -> bool:
            for i, (seed, pos, _, _) in m.items():
                batch = np.random.default_rng(seed).standard_normal((sizes[seed], DIM)).astype(np.float32)
                if not np.array_equal(stored[i], batch[pos]):
                    return False
            return True

        matching = [(m, applied) for m, applied in candidates if vectors_match(m)]
        assert matching, (f"the vectors match neither the acknowledged writes nor them with the one in flight "
                          f"({pending and pending['op']})")
        want, applied = matching[0]
        for g in range(GROUPS):
            assert col.count(filter={"g": g}) == sum(1 for v in want.values() if v[2] == g)
        q = np.zeros(DIM, np.float32)
        assert {h.id for h in col.search(q, k=10_000)} == set(want)
    return applied


@pytest.mark.slow
@pytest.mark.timeout(3600)  # 100 kills take ~10 minutes on a shared 2-core machine
def test_crash_vectors_upsert_delete_flush_compact(tmp_path: Path) -> None:
    stats = run_crash_test("vectors crash", tmp_path, WORKLOAD, check,
                           acks_per_round=(1, 30), max_delay=0.2, timeout=300)
    assert stats["acked"] > 0
