"""Takes docs/filters-tab.png: the Filters tab comparing the demo's two runs.

    tb-filters demo --logdir runs
    .venv/bin/python scripts/screenshot.py [--logdir runs] [--out docs/filters-tab.png]

Starts a real TensorBoard on the log dir, opens the Filters tab in Debian's
Chromium (headless) with the first two runs picked, and saves the picture.
"""

from __future__ import annotations

import argparse
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests.e2e.harness import TensorBoardProcess, launch_chromium, open_filters_tab, wait_for_render  # noqa: E402

VIEWPORT = {"width": 1440, "height": 1000}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", default=os.path.join(REPO, "runs"))
    parser.add_argument("--out", default=os.path.join(REPO, "docs", "filters-tab.png"))
    parser.add_argument("--filter", type=int, default=None,
                        help="scroll to this filter (default: the top of the page)")
    return parser.parse_args(argv)


def take(logdir: str, out: str, filter_index: int | None) -> dict:
    with TensorBoardProcess(logdir) as tb, launch_chromium() as browser:
        runs = [run["run"] for run in tb.get_json("data/plugin/filters/runs")["runs"]][:2]
        if len(runs) < 2:
            raise SystemExit(f"Expected two runs with filters data in {logdir}. Received: {runs}")
        page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1)
        frame = open_filters_tab(page, tb.url)
        view = f"runs={','.join(runs)}" + (f"&filter={filter_index}" if filter_index is not None else "")
        before = int(frame.evaluate("() => document.body.dataset.renderCount"))
        frame.evaluate("(hash) => { window.location.hash = hash; }", view)
        wait_for_render(frame, before + 1)
        # No text cursor or hover marks in the picture.
        page.mouse.move(0, 0)
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        page.screenshot(path=out)
        return {"runs": runs, "url": page.url, "out": out}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not os.path.isdir(args.logdir):
        print(f"Expected a log dir (make one with `tb-filters demo --logdir runs`). "
              f"Received: --logdir {args.logdir}", file=sys.stderr)
        return 2
    result = take(args.logdir, args.out, args.filter)
    print(f"{result['out']}: runs {', '.join(result['runs'])} at {result['url']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
