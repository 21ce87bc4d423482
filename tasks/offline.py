"""Turn off the telemetry of Prefect and Great Expectations before either is imported.

Both libraries otherwise try to reach their telemetry hosts, and Prefect waits on them when
the network is closed. A value already set in the environment wins.
"""

import os

TELEMETRY_SETTINGS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "false",
}


def disable_telemetry() -> None:
    for name, value in TELEMETRY_SETTINGS.items():
        os.environ.setdefault(name, value)
