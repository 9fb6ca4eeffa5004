"""Plugin name, payload version and summary metadata for the `filters` plugin.

Depends only on protobuf messages so that both the writer side and the
TensorBoard plugin (which must not import TensorFlow) can use it.
"""

from __future__ import annotations

from tensorboard.compat.proto import summary_pb2

from tb_filters.format import payload as payload_lib
from tb_filters.format.proto import filters_pb2

PLUGIN_NAME = "filters"

# Bump when LayerReport changes in a way older readers would misread.
# 2: effects, dead and duplicate filters (fields 40-59); slot preferences, patterns, contexts and
# inhibiting windows (fields 20-39). Version 1 reports still load.
# 3: compact windows, patterns and contexts (docs/payload.md); versions 1 and 2 still load.
# 4: the signatures deflate byte-planar (docs/payload.md); version 3 still loads.
# 5: patterns leave out the ids and activation their first window holds; version 4 still loads.
PAYLOAD_VERSION = 5


class NewerPayloadError(ValueError):
    """The data was written by a newer tb_filters than the one reading it."""

    def __init__(self, version: int):
        super().__init__(
            f"written by a newer tb_filters (payload version {version}; "
            f"this one reads up to {PAYLOAD_VERSION})"
        )
        self.version = version


def create_summary_metadata(
    display_name: str | None = None, description: str | None = None
) -> summary_pb2.SummaryMetadata:
    content = filters_pb2.FiltersPluginData(version=PAYLOAD_VERSION)
    return summary_pb2.SummaryMetadata(
        display_name=display_name or "",
        summary_description=description or "",
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME, content=content.SerializeToString()
        ),
        # Without an explicit data class TensorBoard's data provider lists nothing.
        data_class=summary_pb2.DATA_CLASS_TENSOR,
    )


def parse_plugin_metadata(content: bytes) -> filters_pb2.FiltersPluginData:
    """Parses `plugin_data.content`; raises NewerPayloadError or ValueError."""
    if not isinstance(content, bytes):
        raise TypeError(f"Expected bytes content. Received: {type(content).__name__}")
    try:
        result = filters_pb2.FiltersPluginData.FromString(content)
    except Exception as e:  # protobuf raises DecodeError and friends
        raise ValueError(f"plugin metadata does not parse: {e}") from None
    if result.version > PAYLOAD_VERSION:
        raise NewerPayloadError(result.version)
    return result


def parse_layer_report(payload: bytes) -> filters_pb2.LayerReport:
    """Parses one serialized LayerReport (inflated when deflated: `payload.inflate`); raises
    NewerPayloadError or ValueError."""
    try:
        report = filters_pb2.LayerReport.FromString(payload)
    except Exception as e:
        raise ValueError(f"payload does not parse as a filters report: {e}") from None
    if report.version > PAYLOAD_VERSION:
        raise NewerPayloadError(report.version)
    return payload_lib.inflate(report)
