"""The steps that faircurate's flows compose: spec, adapters, warehouse, measures, gates, release."""

from tasks.offline import disable_telemetry

disable_telemetry()
