"""faircurate's Prefect flows and its command line."""

from tasks.offline import disable_telemetry

disable_telemetry()
