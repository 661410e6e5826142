"""The web page of ``dicomize serve`` (needs ``dicomize[serve]``): Starlette, Jinja2, plain JS.

* :mod:`~dicomize.service.web.app`: the pages and the worker thread behind them;
* :mod:`~dicomize.service.web.uploads`: uploads streamed to a private folder within limits;
* :mod:`~dicomize.service.web.security`: sign-in, CSRF, headers, an access log without data.
"""

from __future__ import annotations

from dicomize.service.web.app import WebSettings, create_app

__all__ = ["WebSettings", "create_app"]
