"""The service's defaults, in a module light enough for the command line's ``--help``."""

__all__ = ["GIVE_UP_AFTER", "POLL", "RETRY_AFTER", "RETRY_MAX", "SETTLE"]

#: Seconds a dropped file's size and time must stay the same before it is taken.
SETTLE = 2.0
#: Seconds between scans of a watched folder.
POLL = 2.0
#: Seconds before a failed send is tried again; each retry waits twice as long, up to RETRY_MAX.
RETRY_AFTER = 5.0
RETRY_MAX = 300.0
#: Seconds after which a job that could not be sent is filed as failed (three days).
GIVE_UP_AFTER = 3 * 24 * 3600.0
