"""The one retry rule of DIMSE and STOW-RS: wait `backoff`, doubling before each next try."""

from __future__ import annotations

import time

from dicomize.options import SendOptions

__all__ = ["pause_before_retry"]


def pause_before_retry(options: SendOptions, retry: int) -> float:
    """Sleep before retry number `retry` (1 is the first); return the seconds waited."""
    delay = options.backoff * float(2 ** (retry - 1))
    time.sleep(delay)
    return delay
