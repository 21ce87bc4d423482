"""The steps that faircurate's flows compose: spec, adapters, warehouse, gates, release."""

from tasks.offline import disable_telemetry

disable_telemetry()
