"""A Mailchimp Marketing API v3 emulator: a real HTTP server (starlette + uvicorn) with
in-memory state, Mailchimp's rules and error texts, the 10-connection limit and seeded fault
injection.  See ``README.md`` in this directory for what is covered and every deliberate
deviation.

* :func:`create_app` — the ASGI app; :func:`main` — the command line
  (``python -m mailchimp_emulator``, ``mc-pipelines emulator``).
* :class:`EmulatorServer` — start/stop it from tests and benchmarks (thread or subprocess)
  and drive its admin routes over HTTP.
"""

from .app import Emulator, create_app
from .cli import main
from .faults import FaultSettings
from .harness import EmulatorServer

__all__ = ["Emulator", "EmulatorServer", "FaultSettings", "create_app", "main"]
