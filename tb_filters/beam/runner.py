"""Pipelines whose DirectRunner is Beam's Python one, never Prism.

Beam's `DirectRunner` (SwitchingDirectRunner) first tries the Prism runner,
a Go binary it downloads from GitHub on first use: no good offline, and a
download is not what a laptop run should start with. For `DirectRunner`
(and no --runner) this builds the Python FnApiRunner the switch falls back to,
which honours --direct_num_workers and --direct_running_mode (in_memory,
multi_threading, multi_processing). Any other runner is Beam's own choice.
"""

from __future__ import annotations

import contextlib
import re
from typing import Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from tb_filters.errors import FiltersError

DIRECT_NAMES = frozenset({None, "DirectRunner", "direct", "FnApiRunner"})


def pipeline_options(argv: Sequence[str] | None = None, **kwargs) -> PipelineOptions:
    return PipelineOptions(list(argv or []), **kwargs)


def python_direct_runner(options: PipelineOptions):
    """The FnApiRunner as SwitchingDirectRunner builds it, options passed on to its workers."""
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    provision = fn_runner.ExtendedProvisionInfo(beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
    return fn_runner.FnApiRunner(provision_info=provision)


def is_direct(options: PipelineOptions) -> bool:
    return options.view_as(StandardOptions).runner in DIRECT_NAMES


def pipeline(options: PipelineOptions | Sequence[str] | None = None) -> beam.Pipeline:
    """A beam.Pipeline; `DirectRunner` or no runner means the Python direct runner.
    A failure on bad input raises the worker's one-line FiltersError."""
    if not isinstance(options, PipelineOptions):
        options = pipeline_options(options)
    if is_direct(options):
        return _Pipeline(runner=python_direct_runner(options), options=options)
    return _Pipeline(options=options)


_FILTERS_ERROR = re.compile(r"tb_filters\.errors\.FiltersError: ([^\n]+)")
_BEAM_CONTEXT = re.compile(r" \[while running '[^\]]*'\]$")


def filters_error(error: BaseException) -> FiltersError | None:
    """The FiltersError behind a failed pipeline: raised as is by the in-memory runner,
    as a worker's traceback text by the multi-process and remote ones."""
    if isinstance(error, FiltersError):
        return FiltersError(_BEAM_CONTEXT.sub("", str(error).strip()))
    found = _FILTERS_ERROR.search(str(error))
    return FiltersError(_BEAM_CONTEXT.sub("", found.group(1).strip())) if found else None


class _Pipeline(beam.Pipeline):
    """Raises a failure of ours as the one-line FiltersError it was on the worker."""

    def run(self, test_runner_api="AUTO"):
        with _translated():
            return super().run(test_runner_api)

    def __exit__(self, exc_type, exc_val, exc_tb):
        with _translated():  # remote runners fail in wait_until_finish
            return super().__exit__(exc_type, exc_val, exc_tb)


@contextlib.contextmanager
def _translated():
    try:
        yield
    except Exception as e:
        ours = filters_error(e)
        if ours is None:
            raise
        raise ours from None
