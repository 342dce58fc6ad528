"""A run: rows in, one honest status per row out.

- ``planning``: what a run will do, without any network (``plan``, ``Plan``);
- ``decisions``: the run's decisions without I/O (which call, how to read its answer, when to retry,
  settle, pace or stop, which status a row gets): generators that yield effects;
- ``threads``: the driver on threads and ``requests`` (desktop, CLI, worksheet functions);
- ``aio``: the driver on asyncio (xlwings Lite, which cannot start a thread).

Both drivers give the same statuses, journal records and pace for the same server behaviour
(tests/test_drivers.py runs one scenario table through both).
"""

from greenapi_excel.run.decisions import STOPPED_ON_REQUEST  # noqa: F401
from greenapi_excel.run.planning import Plan, plan  # noqa: F401
from greenapi_excel.run.decisions import RESUME_WINDOW  # noqa: F401
from greenapi_excel.run.threads import run  # noqa: F401
