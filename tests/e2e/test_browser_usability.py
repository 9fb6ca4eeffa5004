"""How people use the tab: downloads, raw-text runs with TensorBoard's step sampling, and the
notebook's embedding (`%tensorboard` through a proxy under a path prefix, inside an iframe)."""

from __future__ import annotations

import csv
import http.server
import io
import json
import re
import threading
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.e2e.harness import TensorBoardProcess, free_port, open_filters_tab, wait_for_render
from tests.e2e.tab_logdir import LAYER
from tests.helpers.readback import read_reports

RUN = "kernel3"


def _download(page, frame, button: str):
    with page.expect_download() as info:
        frame.locator(button).click()
    download = info.value
    return download.suggested_filename, open(download.path(), encoding="utf-8").read()


def test_downloads_the_layer_at_the_step_as_notebook_json_and_csv(page, tensorboard, e2e_logdir):
    frame = open_filters_tab(page, tensorboard.url)
    other_run = frame.locator(".run-option input[value='kernel5']")
    if other_run.is_checked():
        other_run.uncheck()
        wait_for_render(frame, 2)
    step = int(frame.locator(".step-slider").get_attribute("max"))
    expect(frame.locator(".export-json")).to_be_enabled()
    written = read_reports(e2e_logdir)[RUN][LAYER][step]

    name, text = _download(page, frame, ".export-json")
    assert name == f"{RUN}_{LAYER}_step{step}.json"
    assert json.loads(text) == written.to_notebook_json()

    name, text = _download(page, frame, ".export-csv")
    assert name == f"{RUN}_{LAYER}_step{step}.csv"
    rows = list(csv.DictReader(io.StringIO(text)))
    expected = [(f.index, rank, w) for f in written.filters for rank, w in enumerate(f.windows)]
    assert len(rows) == len(expected)
    for row, (index, rank, w) in zip(rows, expected):
        assert (row["run"], row["layer"], int(row["step"]), int(row["filter"]), int(row["rank"])) == (
            RUN, LAYER, step, index, rank)
        assert float(row["activation"]) == pytest.approx(w.activation, rel=1e-6)
        assert (int(row["count"]), int(row["example"]), int(row["position"])) == (w.count, w.example, w.position)
        assert row["window text"] == w.words  # hostile tokens come back as the text they are


TEXTS = ["Not GOOD at all!!", "love this, so much", "worst service EVER", "never buying again...",
         "best day ever :)", "so proud of you"] * 5
STEPS_WRITTEN = 14


@pytest.fixture(scope="module")
def texts_logdir(tmp_path_factory):
    """A raw-text run written at 14 steps: more than TensorBoard keeps without --samples_per_plugin."""
    import tb_filters
    from tb_filters.format import summary
    from tests.engine.test_texts import fitted, text_cnn

    report = tb_filters.interpret(text_cnn(), texts=TEXTS, tokenizer=fitted({}, TEXTS), top_k=4)
    logdir = tmp_path_factory.mktemp("texts_logdir")
    for step in range(STEPS_WRITTEN):
        summary.write_report(str(logdir / "texts"), report, step=step)
    return logdir


def _latest_step_loaded(listing) -> bool:
    return bool(listing["runs"]) and listing["runs"][0]["layers"][0]["latest_step"] == STEPS_WRITTEN - 1


def test_sampled_steps_are_explained_and_original_texts_shown(page, texts_logdir):
    # TensorBoard's Python loader keeps 10 steps per tag without --samples_per_plugin.
    with TensorBoardProcess(str(texts_logdir), extra_args=("--load_fast", "false"), ready=_latest_step_loaded) as tb:
        frame = open_filters_tab(page, tb.url)
        expect(frame.locator(".step-sampling")).to_have_text(
            f"10 sampled steps up to step {STEPS_WRITTEN - 1}; "
            "start TensorBoard with --samples_per_plugin filters=0 to keep all")
        frame.locator(".raw-windows > summary").first.click()  # the raw windows sit under the patterns
        originals = frame.locator(".token[data-original]")
        expect(originals.first).to_be_visible()
        pairs = originals.evaluate_all("(nodes) => nodes.map((n) => [n.textContent, n.dataset.original])")
        assert all(token != original and token in original.lower() for token, original in pairs), pairs

    for flags in (("--load_fast", "false", "--samples_per_plugin", "filters=0"), ()):  # () is the data server
        with TensorBoardProcess(str(texts_logdir), extra_args=flags, ready=_latest_step_loaded) as tb:
            frame = open_filters_tab(page, tb.url)
            expect(frame.locator(".step-label")).to_contain_text(f"of {STEPS_WRITTEN})")
            expect(frame.locator(".step-sampling")).to_have_text("")


class _NotebookServer(http.server.ThreadingHTTPServer):
    """A notebook server's two jobs here: the output cell's page at /notebook.html, and
    /proxy/<port>/... forwarded to localhost:<port>/... (what jupyter-server-proxy does), so
    the browser sees TensorBoard under a path prefix it knows nothing of."""

    def __init__(self, cell_html: str, tensorboard_port: int):
        self.cell_html = cell_html
        self.prefix = f"/proxy/{tensorboard_port}"
        self.tensorboard = f"http://127.0.0.1:{tensorboard_port}"
        super().__init__(("127.0.0.1", free_port()), _NotebookHandler)


class _NotebookHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server API
        if self.path == "/notebook.html":
            body = f"<!doctype html><title>notebook</title><div class=output>{self.server.cell_html}</div>"
            return self._send(200, "text/html", body.encode())
        self._forward(None)

    def do_POST(self):  # noqa: N802
        self._forward(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def _forward(self, body: bytes | None):
        if not self.path.startswith(self.server.prefix + "/"):
            return self._send(404, "text/plain", b"not a proxied path")
        url = self.server.tensorboard + self.path[len(self.server.prefix):]
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "accept")}
        try:
            with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers)) as r:
                return self._send(r.status, r.headers.get("Content-Type", ""), r.read())
        except urllib.error.HTTPError as e:
            return self._send(e.code, e.headers.get("Content-Type", "text/plain"), e.read())

    def _send(self, status: int, content_type: str, body: bytes):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _notebook_cell_html(port: int, monkeypatch) -> str:
    """The HTML `%tensorboard --logdir runs` puts in the output cell, from TensorBoard's own
    notebook code, as on a Jupyter server with jupyter-server-proxy."""
    from tensorboard import notebook

    monkeypatch.setenv("TENSORBOARD_PROXY_URL", "/proxy/%PORT%/")
    shown = []

    class OutputCell:  # IPython's display handle, as `%tensorboard` uses it: update(obj) shows obj
        def update(self, obj):
            shown.append(obj.data)

    notebook._display_ipython(port, height=900, display_handle=OutputCell())
    return shown[0]


def test_tab_renders_inside_a_notebook_output_cell_under_a_path_prefix(page, tensorboard, monkeypatch):
    server = _NotebookServer(_notebook_cell_html(tensorboard.port, monkeypatch), tensorboard.port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        notebook = f"http://127.0.0.1:{server.server_address[1]}"
        embedded = f"{notebook}{server.prefix}/"
        page.goto(f"{notebook}/notebook.html")
        cell = page.wait_for_selector(".output iframe")
        outer = cell.content_frame()
        outer.wait_for_load_state()
        assert outer.url.split("#")[0] == embedded  # TensorBoard opens its default dashboard there
        outer.goto(f"{embedded}#filters")
        frame = outer.wait_for_selector("iframe[src*='plugin_entry.html?name=filters']",
                                        timeout=30_000).content_frame()
        wait_for_render(frame)
        expect(frame.locator(".filter-card").first).to_be_visible()
        assert frame.url.startswith(f"{embedded}data/plugin_entry.html")

        # A deep link made inside the cell reopens the same view through the same prefix.
        frame.locator(".filter-jump").fill("3")
        frame.locator(".filter-jump").press("Enter")
        expect(frame.locator(".filter-row.focused")).to_have_attribute("id", "filter-3")
        frame.locator(".copy-link").click()
        expect(frame.locator(".link-output")).to_have_value(re.compile(r"filter=3"))
        link = frame.locator(".link-output").input_value()
        assert link.startswith(f"{embedded}#filters&")
        other = page.context.new_page()
        other.goto(link)
        reopened = other.wait_for_selector("iframe[src*='plugin_entry.html?name=filters']",
                                           timeout=30_000).content_frame()
        wait_for_render(reopened)
        expect(reopened.locator(".filter-row.focused")).to_have_attribute("id", "filter-3")
        other.close()
    finally:
        server.shutdown()
        server.server_close()
