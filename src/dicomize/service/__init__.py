"""dicomize as a service: a hot folder (``watch``) and a web page (``serve``), one journal behind.

* :mod:`~dicomize.service.journal`: the jobs and their states, in SQLite;
* :mod:`~dicomize.service.worker`: convert, send and file each job, safely repeatable;
* :mod:`~dicomize.service.watch`: take complete files from a folder;
* :mod:`~dicomize.service.web`: the web page (needs ``dicomize[serve]``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dicomize.service.journal import Job as Job
    from dicomize.service.journal import JobState as JobState
    from dicomize.service.journal import Journal as Journal
    from dicomize.service.watch import Watcher as Watcher
    from dicomize.service.watch import WatchSettings as WatchSettings
    from dicomize.service.watch import WatchSummary as WatchSummary
    from dicomize.service.worker import ServiceSettings as ServiceSettings
    from dicomize.service.worker import Worker as Worker

_LOCATIONS = {
    "Job": "dicomize.service.journal",
    "JobState": "dicomize.service.journal",
    "Journal": "dicomize.service.journal",
    "WatchSettings": "dicomize.service.watch",
    "WatchSummary": "dicomize.service.watch",
    "Watcher": "dicomize.service.watch",
    "ServiceSettings": "dicomize.service.worker",
    "Worker": "dicomize.service.worker",
}
__all__ = sorted(_LOCATIONS)  # noqa: PLE0605  (made from the table)


def __getattr__(name: str) -> Any:  # noqa: ANN401  (PEP 562 lazy exports)
    module = _LOCATIONS.get(name)
    if module is None:
        raise AttributeError(f"module 'dicomize.service' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
