"""The store under requests arriving together (issue 19's LOAD): a computed answer is made once,
and each step's first-use parts are built once, in the background after the series is read."""

from __future__ import annotations

import threading
import time

import pytest

from tb_filters.plugin import store as store_lib
from tb_filters.plugin.store import ReportStore
from tests.helpers.logdir_builder import build_logdir
from tests.helpers.plugin_harness import serve, strict_json

THREADS = 8


def run_together(target, threads: int = THREADS) -> list:
    """target() on `threads` threads released at once; what each returned or raised."""
    start, results = threading.Barrier(threads), [None] * threads

    def worker(i):
        start.wait()
        try:
            results[i] = target()
        except Exception as e:  # noqa: BLE001 - returned for the test to look at
            results[i] = e

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=30)
    return results


def test_a_computed_answer_asked_at_once_is_made_once():
    store = ReportStore(data_provider=None)
    made = []

    def make():
        made.append(1)
        time.sleep(0.2)  # long enough for every thread to ask while it is being made
        return {"answer": len(made)}

    results = run_together(lambda: store.computed(("k",), make, size=10))
    assert made == [1]
    assert all(r is results[0] for r in results) and results[0] == {"answer": 1}
    assert store.computed(("k",), make, size=10) is results[0]  # kept


def test_a_failed_computation_reaches_every_waiter_and_is_not_kept():
    store = ReportStore(data_provider=None)
    calls = []

    def fail():
        calls.append(1)
        time.sleep(0.2)
        raise ValueError("no answer")

    results = run_together(lambda: store.computed(("bad",), fail, size=10))
    assert calls == [1]
    assert all(isinstance(r, ValueError) and str(r) == "no answer" for r in results)
    assert store.computed(("bad",), lambda: "now", size=10) == "now"  # tried again


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    path = tmp_path_factory.mktemp("store")
    build_logdir(path, runs=("a",), num_filters=16, top_k=5, steps=4)
    return path


def steps_of(served, run="a", layer="conv1d"):
    return list(served.plugin._store._series.get(("", run, layer)).steps.values())


def wait_until(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    return predicate()


def test_the_latest_steps_are_warmed_in_the_background_the_others_when_asked(logdir, monkeypatch):
    monkeypatch.setattr(store_lib, "WARM_STEPS", 2)
    served = serve(logdir)
    served.json("runs")
    steps = steps_of(served)
    assert [s.step for s in steps] == [0, 1, 2, 3]
    assert wait_until(lambda: steps[3].warmed and steps[2].warmed)
    time.sleep(0.2)  # no other warming would start later
    assert [s.warmed for s in steps[:2]] == [False] * 2
    page = served.json("filters", {"run": "a", "layer": "conv1d", "step": 1, "parts": "card"})
    assert [f["index"] for f in page["filters"]] == list(range(16))
    assert [s.warmed for s in steps] == [False, True, True, True]


def test_the_cache_counts_a_step_with_what_warming_it_keeps(logdir):
    served = serve(logdir)
    served.json("runs")
    for step in steps_of(served):
        proto = step.proto
        assert step.nbytes == proto.ByteSize() + store_lib.warmed_bytes(proto) > proto.ByteSize()


def test_pages_asked_together_on_a_cold_step_build_it_once_and_agree(logdir):
    served = serve(logdir)
    served.plugin._store.warm_in_background = False
    served.json("runs")
    cold = steps_of(served)[2]
    assert not cold.warmed
    built = []
    table_of = type(cold).table.fget

    def counted_table(self):
        if self is cold and self._table is None:
            built.append(1)
            time.sleep(0.05)
        return table_of(self)

    type(cold).table = property(counted_table)
    try:
        pages = run_together(lambda: served.get("filters", {"run": "a", "layer": "conv1d", "step": 2,
                                                            "offset": 0, "limit": 8}).data)
    finally:
        type(cold).table = property(table_of)
    assert built == [1]
    assert cold.warmed
    assert all(p == pages[0] for p in pages)
    page = strict_json(pages[0])
    assert (page["step"], [f["index"] for f in page["filters"]]) == (2, list(range(8)))


def test_requests_asking_together_share_one_listing_call_and_each_answers(logdir):
    served = serve(logdir)
    served.json("runs")
    store = served.plugin._store
    provider, calls = store._provider, []
    list_tensors = provider.list_tensors

    def slow_listing(*args, **kwargs):  # the real provider's answer, slowed as a data server's RPC under load
        calls.append(1)
        time.sleep(0.5)  # every thread asks while it is in flight, on a loaded machine too
        return list_tensors(*args, **kwargs)

    provider.list_tensors = slow_listing
    try:
        pages = run_together(lambda: served.get("filters", {"run": "a", "layer": "conv1d", "step": 3,
                                                            "offset": 0, "limit": 4, "parts": "card"}))
        alone = served.get("filters", {"run": "a", "layer": "conv1d", "step": 3, "offset": 0, "limit": 4,
                                       "parts": "card"})
    finally:
        provider.list_tensors = list_tensors
    assert len(calls) == 2  # one shared by the eight requests arriving together, one for the request after
    assert [p.status_code for p in pages] == [200] * THREADS
    assert all(strict_json(p.data) == strict_json(alone.data) for p in pages)


def test_a_page_reads_its_fragments_as_one_filter_at_a_time_would(logdir):
    served = serve(logdir)
    served.json("runs")
    store = served.plugin._store
    layer_step = steps_of(served)[1]
    singly = [store.filter_json("", layer_step, i, 3, card=True) for i in (5, 0, 9)]
    store._fragments.discard_where(lambda key: True)
    together = store.filter_jsons("", layer_step, [5, 0, 9, 5], 3, card=True)
    assert together == [*singly, singly[0]]
    assert together[3] is together[0]  # built once, read again from the cache
    assert store.filter_jsons("", layer_step, [0], 3, card=True)[0] is together[1]


def test_the_latest_steps_of_every_run_listed_are_warmed_by_one_thread_latest_first(tmp_path, monkeypatch):
    build_logdir(tmp_path, runs=("a", "b"), num_filters=8, top_k=3, steps=4)
    monkeypatch.setattr(store_lib, "WARM_STEPS", 2)
    warmed, warm = [], store_lib.LayerStep.warm

    def recorded(step):
        if not step.warmed:
            warmed.append((step.run, step.step, threading.current_thread().name))
        warm(step)

    monkeypatch.setattr(store_lib.LayerStep, "warm", recorded)
    served = serve(tmp_path)
    served.json("runs")
    assert wait_until(lambda: len(warmed) == 4)
    time.sleep(0.2)  # nothing else is warmed later
    assert sorted(warmed[:2]) == [("a", 3, "tb_filters-warm"), ("b", 3, "tb_filters-warm")]
    assert sorted(warmed[2:]) == [("a", 2, "tb_filters-warm"), ("b", 2, "tb_filters-warm")]
    assert wait_until(lambda: served.plugin._store._warmer is None)  # gone once idle
    served.reload()
    served.json("runs")  # the same steps: nothing to warm
    assert len(warmed) == 4


def _closed_cards_cached(store, step) -> bool:
    keys = [(step.serial, "filter", i, store_lib.CARD_WINDOWS, True) for i in step.positions]
    return all(text is not None for text in store._fragments.get_many(keys))


def test_the_warmed_steps_closed_cards_are_built_in_the_background_as_the_tab_asks_them(logdir, monkeypatch):
    monkeypatch.setattr(store_lib, "WARM_STEPS", 2)
    monkeypatch.setattr(store_lib, "WARM_CARDS_CHUNK", 5)  # 16 filters: four chunks
    served = serve(logdir)
    served.json("runs")
    store, steps = served.plugin._store, steps_of(served)
    assert wait_until(lambda: _closed_cards_cached(store, steps[3]) and _closed_cards_cached(store, steps[2]))
    assert wait_until(lambda: store._warmer is None)
    assert not _closed_cards_cached(store, steps[1])  # older steps: built when asked
    built, filter_object = [], store_lib.LayerStep.filter_object
    monkeypatch.setattr(store_lib.LayerStep, "filter_object", lambda *a, **k: built.append(1) or filter_object(*a, **k))
    page = {"run": "a", "layer": "conv1d", "step": 3, "parts": "card", "windows_limit": store_lib.CARD_WINDOWS}
    warmed_answer = served.get("filters", page).data
    assert built == []  # a first visit read every card from the cache
    cold = serve(logdir)
    cold.plugin._store.warm_in_background = False
    assert strict_json(cold.get("filters", page).data) == strict_json(warmed_answer)
    assert len(built) == 16


def test_card_warming_stops_once_the_fragments_fill_their_share(logdir, monkeypatch):
    monkeypatch.setattr(store_lib, "WARM_STEPS", 2)
    monkeypatch.setattr(store_lib, "WARM_CARDS_SHARE", 0.0)
    served = serve(logdir)
    served.json("runs")
    store, steps = served.plugin._store, steps_of(served)
    assert wait_until(lambda: steps[3].warmed and steps[2].warmed)
    assert wait_until(lambda: store._warmer is None)
    assert store._fragments.filled() == 0.0  # tables warmed, no card built


def test_the_cards_warmed_are_the_ones_the_tab_asks_for():
    import pathlib
    import re

    source = (pathlib.Path(__file__).parents[2] / "frontend" / "views" / "windows.js").read_text()
    assert int(re.search(r"export const WINDOWS_SHOWN = (\d+);", source).group(1)) == store_lib.CARD_WINDOWS
