"""Pipelines whose DirectRunner is Beam's Python one, never Prism.

Beam's `DirectRunner` (SwitchingDirectRunner) first tries the Prism runner,
a Go binary it downloads from GitHub on first use: no good offline, and a
download is not what a laptop run should start with. For `DirectRunner`
(and no --runner) this builds the Python FnApiRunner the switch falls back to,
which honours --direct_num_workers and --direct_running_mode (in_memory,
multi_threading, multi_processing). Any other runner is Beam's own choice.
"""

from __future__ import annotations

from typing import Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

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
    """A beam.Pipeline; `DirectRunner` or no runner means the Python direct runner."""
    if not isinstance(options, PipelineOptions):
        options = pipeline_options(options)
    if is_direct(options):
        return beam.Pipeline(runner=python_direct_runner(options), options=options)
    return beam.Pipeline(options=options)
