"""The web page of ``dicomize serve`` (needs ``dicomize[serve]``): Starlette, Jinja2, plain JS.

* :mod:`~dicomize.service.web.app`: the pages and the worker thread behind them;
* :mod:`~dicomize.service.web.uploads`: uploads streamed to a private folder within limits;
* :mod:`~dicomize.service.web.security`: sign-in and its limits, CSRF, host names, headers, an
  access log without data;
* :mod:`~dicomize.service.web.visits`: a visit's series, one kind of content each;
* :mod:`~dicomize.service.web.readable`: names and dates as people read and type them;
* :mod:`~dicomize.service.web.messages`: errors in the page's words, without paths or flags;
* :mod:`~dicomize.service.web.recent`: what the page keeps in memory, for minutes only.
"""

from __future__ import annotations

from dicomize.service.web.app import WebSettings, create_app
from dicomize.service.web.security import Protection

__all__ = ["Protection", "WebSettings", "create_app"]
