"""Choose the flows' task runner and tell whether the current flow runs on a Dask cluster.

Only tasks that a flow submits (`.submit`, `.map`) go to the task runner. Tasks called
directly, such as every task that writes to the warehouse, run in the flow's own process,
because DuckDB allows one writing process per file.
"""

from __future__ import annotations

from typing import Any

from prefect.context import FlowRunContext

from tasks.settings import TASK_RUNNER_VARIABLE, RunnerSettings, SettingsError, runner_settings


def configured_task_runner(settings: RunnerSettings | None = None) -> Any | None:
    """Return the task runner the settings choose, or None for Prefect's default runner.

    Raises SettingsError when Dask is chosen but prefect-dask is not installed.
    """
    settings = settings or runner_settings()
    if settings.kind == "default":
        return None
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        raise SettingsError(
            TASK_RUNNER_VARIABLE,
            settings.kind,
            "prefect-dask is not installed; install it with pip install 'faircurate[dask]'",
        ) from None
    if settings.dask_address is not None:
        return DaskTaskRunner(address=settings.dask_address)
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": settings.dask_workers,
            "threads_per_worker": 1,
            "processes": True,
            "host": "127.0.0.1",
            "dashboard_address": None,
        }
    )


def with_configured_runner(flow_object):
    """Return the flow with the configured task runner, or unchanged for the default runner."""
    runner = configured_task_runner()
    return flow_object if runner is None else flow_object.with_options(task_runner=runner)


def runs_on_cluster() -> bool:
    """Return whether the current flow's task runner is a Dask task runner."""
    context = FlowRunContext.get()
    if context is None or context.task_runner is None:
        return False
    return type(context.task_runner).__module__.startswith("prefect_dask")
