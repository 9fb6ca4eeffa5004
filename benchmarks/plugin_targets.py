"""T4 (route latency and first render of a page of a 1024-filter layer) and
issue 5's load measurement (20 concurrent clients), on a live TensorBoard.

Every response is checked against the reports that were written, so a fast
wrong answer never counts.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import gzip
import json
import os
import random
import sys
import tempfile
import time
from typing import Sequence

import numpy as np

from benchmarks import live_tensorboard, workload
from benchmarks.table import Measurement
from tb_filters.plugin import store
from tests.e2e.harness import launch_chromium

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass(frozen=True)
class PluginWorkload:
    run: str = "wide"
    layer: str = "conv_wide"
    num_filters: int = 1024
    top_k: int = 100
    steps: int = 10
    page_size: int = 64
    # Token strings the windows draw from: the builder's Zipf-drawn ids rarely
    # go past 50,000, so the payload's token table is of the same order as with
    # the notebook's 721,696 tokens, and the log dir builds faster.
    vocab_size: int = 50_000

    @property
    def latest_step(self) -> int:
        return self.steps - 1

    def page_offsets(self) -> list[int]:
        return list(range(0, self.num_filters, self.page_size))


@dataclasses.dataclass(frozen=True)
class ExpectedFilter:
    """What a response must say about one filter: enough to catch a wrong page or step."""

    num_windows: int
    first_activation: float
    first_tokens: tuple[str, ...]


Expected = dict[int, list[ExpectedFilter]]  # step -> filters by index

# A page as the tab asks it (frontend/panels/grid.js): closed cards of store.CARD_WINDOWS windows, the
# ones the plugin warms; a card's slot preferences, inhibiting windows and intervals come from
# `details` when it is opened.
TAB_PAGE = {"parts": "card", "windows_limit": store.CARD_WINDOWS}
# One window fewer: cards the plugin's background warming does not build.
UNWARMED_PAGE = {"parts": "card", "windows_limit": store.CARD_WINDOWS - 1}
ON_DEMAND = ("slot_preferences", "inhibiting", "intervals")


def build_logdir(spec: PluginWorkload, path: str) -> Expected:
    """Writes the run with the plugin engineer's builder; returns what each step holds."""
    if REPO not in sys.path:
        sys.path.insert(0, REPO)
    from tests.helpers.logdir_builder import build_logdir as write_runs

    built = write_runs(path, runs=(spec.run,), num_filters=spec.num_filters, top_k=spec.top_k,
                       steps=spec.steps, layers=(spec.layer,),
                       vocabulary=workload.vocabulary(spec.vocab_size))
    expected: Expected = {}
    for step in built.steps:
        layer = built.report(spec.run, spec.layer, step)
        expected[step] = [ExpectedFilter(len(f.windows), f.windows[0].activation, f.windows[0].tokens)
                          for f in layer.filters]
    return expected


def page_problems(status: int, body: bytes, spec: PluginWorkload, expected: Expected, step: int,
                  offset: int, asked: dict | None = None) -> list[str]:
    """Why a `filters` response to the `asked` parameters is wrong, or [] when it is right."""
    asked = asked or {}
    windows_limit, card = asked.get("windows_limit"), asked.get("parts") == "card"
    where = f"step {step} offset {offset}"
    if status != 200:
        return [f"{where}: status {status}: {body[:200]!r}"]
    page = json.loads(body)
    if (page.get("step"), page.get("offset"), page.get("num_filters")) != (step, offset, spec.num_filters):
        return [f"{where}: answered step {page.get('step')} offset {page.get('offset')} "
                f"of {page.get('num_filters')} filters"]
    wanted = list(range(offset, min(offset + spec.page_size, spec.num_filters)))
    indices = [f["index"] for f in page["filters"]]
    if indices != wanted:
        return [f"{where}: filters {indices[:3]}...{indices[-3:]}, expected {wanted[0]}..{wanted[-1]}"]
    problems = []
    shown = spec.top_k if windows_limit is None else min(windows_limit, spec.top_k)
    if card != bool(page["on_demand"]):
        problems.append(f"{where}: on_demand is {page['on_demand']} for parts={asked.get('parts')}")
    for f in page["filters"]:
        truth = expected[step][f["index"]]
        first = f["windows"][0] if f["windows"] else {}
        if card and any(f[key] is not None for key in ON_DEMAND):
            problems.append(f"{where}: filter {f['index']} of a card page holds an on-demand part")
        elif (f["num_windows"], len(f["windows"])) != (truth.num_windows, shown):
            problems.append(f"{where}: filter {f['index']} has {len(f['windows'])} of {f['num_windows']} windows")
        elif (first["activation"], tuple(first["tokens"])) != (truth.first_activation, truth.first_tokens):
            problems.append(f"{where}: filter {f['index']} top window differs from the one written")
    return problems


@dataclasses.dataclass(frozen=True)
class Latencies:
    seconds: tuple[float, ...]  # of the timed requests
    problems: tuple[str, ...]
    correct: int  # answers, timed or not, that passed every check
    wall_seconds: float = 0.0

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(self.seconds, q) * 1000) if self.seconds else float("nan")


def sequential_latency(port: int, spec: PluginWorkload, expected: Expected, requests: int = 50,
                       warmups: int = 5, asked: dict | None = None, step: int | None = None) -> Latencies:
    """Pages through one step (default: the latest) one request at a time, as a person paging would."""
    client = live_tensorboard.Client(port)
    step = spec.latest_step if step is None else step
    offsets = spec.page_offsets()
    params = asked or {}
    seconds, problems, correct = [], [], 0
    try:
        for i in range(warmups + requests):
            offset = offsets[i % len(offsets)]
            status, body, took = client.get("filters", run=spec.run, layer=spec.layer, step=step,
                                            offset=offset, limit=spec.page_size, **params)
            wrong = page_problems(status, body, spec, expected, step, offset, params)
            problems += wrong
            correct += not wrong
            if i >= warmups:
                seconds.append(took)
    finally:
        client.close()
    return Latencies(tuple(seconds), tuple(problems), correct)


@dataclasses.dataclass(frozen=True)
class _Answer:
    step: int
    offset: int
    status: int
    body: bytes
    gzipped: bool
    seconds: float


def _one_client(port: int, spec: PluginWorkload, seed: int, requests: int,
                deadline: float) -> tuple[list[_Answer], list[str]]:
    """Requests random pages and keeps the answers as received: checking them
    here would put the client's JSON parsing (~100 ms a page) inside the other
    threads' timings, and on the server's cores, while the load runs."""
    rng = random.Random(seed)
    client = live_tensorboard.Client(port)
    answers, problems = [], []
    try:
        for sent in range(requests):
            if time.monotonic() > deadline:
                problems.append(f"client {seed}: time limit reached after {sent} requests")
                break
            step, offset = rng.randrange(spec.steps), rng.choice(spec.page_offsets())
            try:
                status, body, gzipped, took = client.get_raw("filters", run=spec.run, layer=spec.layer,
                                                             step=step, offset=offset, limit=spec.page_size,
                                                             **TAB_PAGE)
            except OSError as e:
                problems.append(f"client {seed}: step {step} offset {offset}: {e}")
                continue
            answers.append(_Answer(step, offset, status, body, gzipped, took))
    finally:
        client.close()
    return answers, problems


def concurrent_load(port: int, spec: PluginWorkload, expected: Expected, clients: int = 20,
                    requests_per_client: int = 25, time_limit: float = 300.0) -> Latencies:
    """`clients` threads, each paging through random (step, page)s on its own connection;
    every answer is checked once the load is over."""
    deadline = time.monotonic() + time_limit
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(_one_client, port, spec, seed, requests_per_client, deadline)
                   for seed in range(clients)]
        results = [f.result() for f in futures]
    wall = time.perf_counter() - started
    answers = [a for r in results for a in r[0]]
    problems = [p for r in results for p in r[1]]
    correct = 0
    for a in answers:
        body = gzip.decompress(a.body) if a.gzipped else a.body
        wrong = page_problems(a.status, body, spec, expected, a.step, a.offset, TAB_PAGE)
        problems += wrong
        correct += not wrong
    return Latencies(tuple(a.seconds for a in answers), tuple(problems), correct, wall)


@dataclasses.dataclass(frozen=True)
class Render:
    """Milliseconds from navigating to the tab to the first screen of its page's cards built (the
    rows the viewport shows; the tab builds the rest right after, marks.js) and to the whole page."""

    from_navigation_ms: tuple[float, ...]  # to the first screen of cards built
    render_call_ms: tuple[float, ...]  # the frontend's own marker: render() to the whole page built
    problems: tuple[str, ...]
    phases: tuple[dict[str, float], ...] = ()  # per context: PHASES, ms from navigation
    whole_ms: tuple[float, ...] = ()  # navigation to every card of the page built
    screen_rows: tuple[int, ...] = ()  # rows the first screen had

    def phase_medians(self) -> str:
        """Where the milliseconds went, as median milestones from navigation."""
        return ", ".join(f"{label} {np.median([p[key] for p in self.phases]):.0f}"
                         for key, label in PHASES if all(key in p for p in self.phases))


# Milestones of a first render from Chromium's performance entries: the last script module
# received, the last route answer the first view waits for, the frontend's marks.
PHASES = (("scripts", "scripts in"), ("render", "render() called"), ("answers", "runs+page+overview in"),
          ("fetched", "cards' data ready"), ("screen", "first screen built"),
          ("painted", "its first frame after"), ("rendered", "whole page's cards built"))
_PHASES_JS = """() => {
  const ends = (test) => Math.max(0, ...performance.getEntriesByType("resource")
    .filter((r) => test(new URL(r.name).pathname.split("/").pop())).map((r) => r.responseEnd));
  const mark = (name) => performance.getEntriesByName(name)[0]?.startTime;
  const phases = {
    scripts: ends((name) => name.endsWith(".js")),
    answers: ends((name) => ["runs", "filters", "overview"].includes(name)),
    render: mark("filters-render-start"), fetched: mark("filters-fetched"), screen: mark("filters-first-screen"),
    painted: mark("filters-painted"), rendered: mark("filters-rendered"),
  };
  return Object.fromEntries(Object.entries(phases).filter(([, v]) => v !== undefined));
}"""


def _entry_url(port: int, spec: PluginWorkload) -> str:
    # The page TensorBoard puts in the tab's iframe, opened on its own: the
    # tab as the user sees it, without TensorBoard's own app around it.
    return (f"http://127.0.0.1:{port}/data/plugin_entry.html?name=filters"
            f"#runs={spec.run}&layer={spec.layer}&step={spec.latest_step}")


def _rendered_page_problems(page, spec: PluginWorkload, expected: Expected) -> list[str]:
    indices = page.eval_on_selector_all("article.filter-card", "cards => cards.map(c => Number(c.dataset.filter))")
    wanted = list(range(min(spec.page_size, spec.num_filters)))
    if indices != wanted:
        return [f"rendered filter cards {indices[:5]}... expected {wanted[:5]}..."]
    tokens = page.eval_on_selector(
        "article.filter-card", "card => [...card.querySelector('.window .tokens').children].map(t => t.textContent)")
    truth = expected[spec.latest_step][0].first_tokens
    return [] if tuple(tokens) == truth else [f"filter 0's top window shows {tokens}, written {truth}"]


def first_render(port: int, spec: PluginWorkload, expected: Expected, repeats: int = 5,
                 timeout_ms: float = 60_000) -> Render:
    """Opens the tab `repeats` times, each in a fresh browser context (cold HTTP cache)."""
    navigation, render_call, problems, phases, whole, rows = [], [], [], [], [], []
    with launch_chromium() as browser:
        for _ in range(repeats):
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.goto(_entry_url(port, spec))
            # A slow poll of attributes: Playwright's wait_for_selector ran its selector engine on every
            # frame, ~47 ms of the main thread during the render it was timing (CDP profile). The first
            # screen's frame, then the whole page (renderCount): the check below reads every card.
            page.wait_for_function("() => document.body?.dataset.firstPaintMs && document.body.dataset.renderCount",
                                   polling=100, timeout=timeout_ms)
            marks = page.evaluate("() => ['firstScreenAt', 'renderedAt', 'firstRenderMs', 'firstScreenRows']"
                                  ".map((key) => Number(document.body.dataset[key]))")
            navigation.append(marks[0])
            whole.append(marks[1])
            render_call.append(marks[2])
            rows.append(int(marks[3]))
            phases.append(page.evaluate(_PHASES_JS))
            problems += _rendered_page_problems(page, spec, expected)
            context.close()
    return Render(tuple(navigation), tuple(render_call), tuple(problems), tuple(phases), tuple(whole), tuple(rows))


@dataclasses.dataclass(frozen=True)
class Sizes:
    route_requests: int = 50
    route_warmups: int = 5
    render_repeats: int = 5
    load_clients: int = 20
    load_requests: int = 25
    load_time_limit: float = 300.0


def _problem_note(problems: Sequence[str]) -> str:
    return f"{len(problems)} wrong answers, first: {problems[0]}" if problems else ""


def _failed_if(problems: Sequence[str]) -> bool | None:
    return False if problems else None


def overview_rows(port: int, spec: PluginWorkload, sizes: Sizes) -> list[Measurement]:
    """The `overview` route of the latest step: latency after warm-ups, and its gzipped size."""
    client = live_tensorboard.Client(port)
    seconds, problems, size = [], [], 0
    try:
        for i in range(sizes.route_warmups + sizes.route_requests):
            status, body, gzipped, took = client.get_raw("overview", run=spec.run, layer=spec.layer,
                                                         step=spec.latest_step)
            data = json.loads(gzip.decompress(body) if gzipped else body) if status == 200 else {}
            if status != 200 or len(data.get("index", ())) != spec.num_filters or not gzipped:
                problems.append(f"request {i}: status {status}, gzip {gzipped}, "
                                f"{len(data.get('index', ()))} of {spec.num_filters} filters")
            size = len(body)
            if i >= sizes.route_warmups:
                seconds.append(took)
    finally:
        client.close()
    latency = Latencies(tuple(seconds), tuple(problems), len(seconds) - len(problems))
    return [
        Measurement("EFF", f"route `overview`, {spec.num_filters} filters, median", latency.percentile_ms(50), "ms",
                    limit=50, detail=f"p95 {latency.percentile_ms(95):.1f} ms over {len(seconds)} requests after "
                    f"{sizes.route_warmups} warm-ups; {_problem_note(problems)}".rstrip("; "),
                    passed=_failed_if(problems)),
        Measurement("EFF", f"route `overview`, {spec.num_filters} filters, gzipped size", size / 1000, "KB",
                    limit=100, detail="two outputs' effects, dead, duplicate_of, max and activation rate per filter"),
    ]


def details_latency(port: int, spec: PluginWorkload, requests: int = 50) -> Latencies:
    """The `details` route as a card's opened section asks it: a filter no request has touched yet, each time."""
    client = live_tensorboard.Client(port)
    seconds, problems = [], []
    try:
        for index in range(requests):
            status, body, took = client.get("details", run=spec.run, layer=spec.layer, step=spec.latest_step,
                                            filter=index)
            answer = json.loads(body) if status == 200 else {}
            if answer.get("filter") != index or any(answer.get(key) is None for key in ON_DEMAND):
                problems.append(f"details of filter {index}: status {status}: {body[:200]!r}")
            seconds.append(took)
    finally:
        client.close()
    return Latencies(tuple(seconds), tuple(problems), requests - len(problems))


def page_bytes(port: int, spec: PluginWorkload, **asked) -> tuple[int, int]:
    """(JSON bytes, bytes sent gzipped) of the first page of the latest step."""
    client = live_tensorboard.Client(port)
    try:
        _, body, gzipped, _ = client.get_raw("filters", run=spec.run, layer=spec.layer, step=spec.latest_step,
                                             offset=0, limit=spec.page_size, **asked)
    finally:
        client.close()
    return len(gzip.decompress(body) if gzipped else body), len(body)


def _latency_row(what: str, latency: Latencies, limit: float | None = None, note: str = "") -> Measurement:
    return Measurement("T4", what, latency.percentile_ms(50), "ms", limit=limit,
                       detail=f"p95 {latency.percentile_ms(95):.1f} ms over {len(latency.seconds)} requests"
                       f"{note}; {_problem_note(latency.problems)}".rstrip("; "), passed=_failed_if(latency.problems))


def t4_rows(server: live_tensorboard.Server, spec: PluginWorkload, expected: Expected,
            sizes: Sizes) -> list[Measurement]:
    port = server.port
    # First visits before anything else: every page of a step no request has touched yet, once the
    # server has settled (the plugin warms each series' latest steps, store.WARM_STEPS, in the background).
    settled = server.wait_idle()
    cold = sequential_latency(port, spec, expected, len(spec.page_offsets()), warmups=0,
                              step=max(0, spec.latest_step - 1), asked=TAB_PAGE)
    built = sequential_latency(port, spec, expected, len(spec.page_offsets()), warmups=0,
                               step=max(0, spec.latest_step - 2), asked=UNWARMED_PAGE)
    shown = sequential_latency(port, spec, expected, sizes.route_requests, sizes.route_warmups, asked=TAB_PAGE)
    full = sequential_latency(port, spec, expected, sizes.route_requests, sizes.route_warmups)
    details = details_latency(port, spec, sizes.route_requests)
    (card_json, card_sent), (full_json, full_sent) = page_bytes(port, spec, **TAB_PAGE), page_bytes(port, spec)
    render = first_render(port, spec, expected, sizes.render_repeats)
    page = f"{spec.page_size} of {spec.num_filters} filters, top-{spec.top_k}, {spec.steps} steps"
    median_render = float(np.median(render.from_navigation_ms)) / 1000
    cycling = f" cycling through the {len(spec.page_offsets())} pages after {sizes.route_warmups} warm-ups"
    return [
        _latency_row(f"route `filters`, first visit of a page as the tab asks it ({page}; closed cards, "
                     "windows_limit=10), median", cold, limit=150,
                     note=f", one per page of a step no request touched, after the server settled "
                     f"({settled:.1f} s): the plugin warmed the step's tables and closed cards in the "
                     "background (its latest store.WARM_STEPS steps)"),
        _latency_row("route `filters`, first visit of a page whose cards no one built (closed cards, "
                     f"windows_limit={UNWARMED_PAGE['windows_limit']}), median", built,
                     note=", one per page of another step no request touched: its tables warmed in the "
                     "background, each page builds its own cards (an older step's first visit)"),
        _latency_row("route `filters` as the tab asks it, pages visited before, median", shown, limit=50,
                     note=cycling),
        _latency_row("route `filters`, the whole page (every window and part), median", full, note=cycling),
        _latency_row("route `details` (a card's opened section), first visit of each filter, median", details,
                     limit=50),
        Measurement("T4", "JSON of a page as the tab asks it", card_json / 1000, "KB",
                    detail=f"{card_sent / 1000:.0f} KB sent gzipped; the whole page: {full_json / 1000:.0f} KB "
                    f"({full_sent / 1000:.0f} KB gzipped), {full_json / card_json:.1f}x"),
        Measurement("T4", "first render of that page in headless Chromium: navigation to its first screen of "
                    "cards built, median", median_render, "s",
                    limit=0.5, detail=f"over {len(render.from_navigation_ms)} fresh contexts at 1400x1000: "
                    f"{', '.join(f'{ms:.0f}' for ms in render.from_navigation_ms)} ms, the first screen "
                    f"{'/'.join(sorted({str(r) for r in render.screen_rows}))} of {spec.page_size} rows, the rest "
                    f"built right after (the whole page: median {np.median(render.whole_ms):.0f} ms from "
                    f"navigation, render() to it {np.median(render.render_call_ms):.0f} ms); median milestones, "
                    f"ms from navigation: {render.phase_medians()}; "
                    f"{_problem_note(render.problems)}".rstrip("; "), passed=_failed_if(render.problems)),
    ]


def load_rows(server: live_tensorboard.Server, spec: PluginWorkload, expected: Expected,
              sizes: Sizes) -> list[Measurement]:
    # An earlier part's one-time work (the render part's `dynamics`: seconds of the GIL) is not the load's.
    settled = server.wait_idle()
    cpu_before = server.cpu_seconds()
    load = concurrent_load(server.port, spec, expected, sizes.load_clients, sizes.load_requests,
                           sizes.load_time_limit)
    server_cpu = server.cpu_seconds() - cpu_before
    wanted = sizes.load_clients * sizes.load_requests
    return [
        Measurement("LOAD", f"{sizes.load_clients} concurrent clients x {sizes.load_requests} pages as the tab "
                    "asks them: correct responses", load.correct, f"of {wanted}",
                    passed=load.correct == wanted and not load.problems,
                    detail=_problem_note(load.problems)),
        Measurement("LOAD", "latency under load, p95", load.percentile_ms(95), "ms", limit=300,
                    detail=f"p50 {load.percentile_ms(50):.0f} ms, max {load.percentile_ms(100):.0f} ms, "
                    f"{len(load.seconds) / load.wall_seconds:.1f} requests/s over {load.wall_seconds:.1f} s; TensorBoard "
                    f"used {server_cpu:.1f} s of CPU ({1000 * server_cpu / max(1, len(load.seconds)):.0f} ms a "
                    "request); random (step, page)s of closed cards (parts=card, windows_limit=10), answers "
                    "checked after the load, so the clients' JSON parsing stays out of the timings; started "
                    f"once the server settled ({settled:.1f} s after the previous part); what bounds it (py-spy): "
                    "every request's Python takes turns on TensorBoard's one GIL, and a third of these are a "
                    "page's first visit (~12 ms of CPU: window fields, patterns, JSON), so the slowest wait for "
                    "the turns of the requests in flight (docs/performance.md)"),
    ]


def payload_rows(spec: PluginWorkload) -> list[Measurement]:
    """One layer report's serialized size, with and without what a filter detects."""
    from tb_filters.format import report as report_lib
    from tests.helpers.logdir_builder import synthetic_layer_report

    vocabulary = workload.vocabulary(spec.vocab_size)
    sizes = {
        detects: report_lib.to_proto(synthetic_layer_report(
            spec.layer, spec.num_filters, spec.top_k, 3, vocabulary, seed=0, detects=detects)).ByteSize()
        for detects in (False, True)
    }
    return [
        Measurement("T4", f"payload of one layer report, {spec.num_filters} filters x top-{spec.top_k}, with slot "
                    "preferences, patterns, inhibiting windows, contexts and interval samples, as stored",
                    sizes[True] / 2**20, "MiB", limit=8,
                    detail=f"{sizes[False] / 2**20:.1f} MiB without them ({sizes[True] / sizes[False]:.2f}x); every "
                    f"window (top and inhibiting) from an example of its own: {2 * spec.num_filters * spec.top_k:,} "
                    "examples of 32 tokens, each stored once, whose ids alone take ~4.5 MiB deflated (~4.05 MiB "
                    "of entropy): what blocks the target, docs/payload.md"),
    ]


MATCH_PROBE = 2048  # the default probe_examples


def match_rows(spec: PluginWorkload, requests: int = 20) -> list[Measurement]:
    """The `match` route for two 1024-filter layers on a 2048-example probe, through the real plugin
    in-process: the first request (decode, correlations, null, assignment, CKA) and the cached ones.
    Run b is run a's filters permuted with 1% noise (all shared); run c is unrelated."""
    import urllib.parse

    from tb_filters.format import report as report_lib
    from tb_filters.format import summary
    from tests.helpers.logdir_builder import synthetic_layer_report
    from tests.helpers.plugin_harness import serve

    rng = np.random.default_rng(0)
    signatures = np.maximum(rng.normal(0.5, 1.0, (spec.num_filters, MATCH_PROBE)), 0.0)
    order = rng.permutation(spec.num_filters)
    layers = {"a": signatures, "b": signatures[order] + rng.normal(0, 0.01, signatures.shape),
              "c": np.maximum(rng.normal(0.5, 1.0, signatures.shape), 0.0)}
    base = synthetic_layer_report(spec.layer, spec.num_filters, 1, 3, workload.vocabulary(1000), seed=0, detects=False)
    with tempfile.TemporaryDirectory(prefix="tb_filters-bench-match-") as logdir:
        for run, matrix in layers.items():
            layer = dataclasses.replace(base, signatures=report_lib.COMPUTED, probe_examples=MATCH_PROBE,
                                        probe_fingerprint="bench", signature_matrix=matrix.astype("<f2").tobytes())
            summary.write_report(os.path.join(logdir, run), report_lib.Report({spec.layer: layer}), 0)
        served = serve(logdir)
        rows = []
        for other, what in (("b", "a permuted copy"), ("c", "an unrelated run")):
            query = urllib.parse.urlencode([("run", "a"), ("run", other), ("layer", spec.layer)])
            seconds, answers = [], []
            for _ in range(1 + requests):
                started = time.perf_counter()
                response = served.client.get("/data/plugin/filters/match?" + query)
                seconds.append(time.perf_counter() - started)
                answers.append(response.status_code == 200 and json.loads(response.data)["comparable"])
            shared = json.loads(response.data)["shared"]
            rows += [
                Measurement("T4", f"route `match`, {spec.num_filters} x {spec.num_filters} filters on a "
                            f"{MATCH_PROBE}-example probe, {what}, first request", seconds[0] * 1000, "ms",
                            detail=f"decode, correlations, null, assignment and CKA; {shared} shared",
                            passed=None if all(answers) else False),
                Measurement("T4", f"route `match`, {spec.num_filters} x {spec.num_filters} filters, {what}, cached, "
                            "median", float(np.median(seconds[1:])) * 1000, "ms", detail=f"{requests} requests"),
            ]
    return rows


def measure(spec: PluginWorkload, sizes: Sizes, parts: set[str], log=print) -> list[Measurement]:
    """Builds the log dir, starts TensorBoard once, and runs the requested parts."""
    with tempfile.TemporaryDirectory(prefix="tb_filters-bench-") as logdir:
        started = time.perf_counter()
        expected = build_logdir(spec, logdir)
        log(f"  log dir with {spec.num_filters} filters x top-{spec.top_k} x {spec.steps} steps "
            f"written in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        with live_tensorboard.serve(logdir, spec.run, spec.layer, spec.steps) as server:
            log(f"  tensorboard on 127.0.0.1:{server.port} served every step after "
                f"{time.perf_counter() - started:.1f} s")
            rows = t4_rows(server, spec, expected, sizes) + payload_rows(spec) if "T4" in parts else []
            if "T4" in parts or "EFF" in parts:
                rows += overview_rows(server.port, spec, sizes)
            if "LOAD" in parts:
                rows += load_rows(server, spec, expected, sizes)
    if "MATCH" in parts:  # in-process, on log dirs of its own
        rows += match_rows(spec)
    return rows
