"""Named points where a test can kill the process, to prove that a crash leaves no partial state.

Set FAIRCURATE_FAILPOINT to a point's name and the process kills itself with SIGKILL when it
reaches that point, as a power cut or an out-of-memory kill would. Unset, a failpoint does
nothing.
"""

import os
import signal

FAILPOINT_VARIABLE = "FAIRCURATE_FAILPOINT"


def failpoint(name: str) -> None:
    if os.environ.get(FAILPOINT_VARIABLE) == name:
        os.kill(os.getpid(), signal.SIGKILL)
