"""The `runs` route says when TensorBoard may have kept only a sample of a layer's steps."""

from __future__ import annotations

import pytest

from tests.helpers.logdir_builder import build_logdir
from tests.helpers.plugin_harness import serve

STEPS = 14


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    return build_logdir(tmp_path_factory.mktemp("sampled"), runs=("run",), steps=STEPS, num_filters=2, top_k=2)


def layer_info(served):
    return served.json("runs")["runs"][0]["layers"][0]


def test_without_the_flag_tensorboard_keeps_ten_steps_and_the_tab_is_told(logdir):
    # TensorBoard's defaults: a reservoir of 10 tensors per tag, no sampling hint for the plugin.
    info = layer_info(serve(logdir.path, sampling_hints={}, samples_kept=10))
    assert len(info["steps"]) == 10 and info["steps"][-1] == STEPS - 1
    assert (info["max_step"], info["samples_kept"], info["sampled"]) == (STEPS - 1, 10, True)


def test_samples_per_plugin_zero_keeps_every_step(logdir):
    info = layer_info(serve(logdir.path, sampling_hints={"filters": 0}, samples_kept=0))
    assert info["steps"] == list(range(STEPS))
    assert (info["max_step"], info["samples_kept"], info["sampled"]) == (STEPS - 1, None, False)


def test_a_limit_above_the_steps_written_is_no_sample(logdir):
    info = layer_info(serve(logdir.path, sampling_hints={"filters": 50}, samples_kept=50))
    assert (len(info["steps"]), info["samples_kept"], info["sampled"]) == (STEPS, 50, False)


def test_sparse_steps_that_fill_the_limit_may_be_a_sample(tmp_path):
    # every_n_epochs=5: steps 0, 5, .., 45. As many as the limit keeps, so the tab cannot tell.
    built = build_logdir(tmp_path, runs=("run",), steps=range(0, 50, 5), num_filters=2, top_k=2)
    info = layer_info(serve(built.path, sampling_hints={}, samples_kept=10))
    assert (len(info["steps"]), info["max_step"], info["sampled"]) == (10, 45, True)
    assert layer_info(serve(built.path, sampling_hints={"filters": 11}, samples_kept=11))["sampled"] is False
