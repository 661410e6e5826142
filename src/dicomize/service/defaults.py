"""The service's defaults, in a module light enough for the command line's ``--help``."""

__all__ = [
    "EXPIRE_EVERY",
    "FAILED_RECENTLY",
    "GIVE_UP_AFTER",
    "KEEP_FOR",
    "POLL",
    "RETRY_AFTER",
    "RETRY_MAX",
    "SETTLE",
    "STUCK_AFTER",
    "STUCK_ATTEMPTS",
]

#: Seconds a dropped file's size and time must stay the same before it is taken.
SETTLE = 2.0
#: Seconds between scans of a watched folder.
POLL = 2.0
#: Seconds before a failed send is tried again; each retry waits twice as long, up to RETRY_MAX.
RETRY_AFTER = 5.0
RETRY_MAX = 300.0
#: Seconds after which a job that could not be sent is filed as failed (three days).
GIVE_UP_AFTER = 3 * 24 * 3600.0
#: Seconds a job's patient data is kept once it is done or failed (its journal row, what is
#: left in the spool), and a held upload nobody sent is kept (seven days).
KEEP_FOR = 7 * 24 * 3600.0
#: Seconds between two passes of that retention rule.
EXPIRE_EVERY = 60.0
#: A job waiting to retry needs a person after this many seconds, or this many attempts.
STUCK_AFTER = 3600.0
STUCK_ATTEMPTS = 5
#: Seconds a failed job is listed with the stuck ones.
FAILED_RECENTLY = 24 * 3600.0
