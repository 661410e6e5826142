"""Read the docstrings' Sphinx roles as cross-references when the manual is built.

dicomize's docstrings follow numpydoc, as pydicom's and highdicom's do, and so
name other objects with Sphinx roles (:func:`dicomize.convert`) that Markdown
would print as they are. This griffe extension, loaded by mkdocstrings (see
``mkdocs.yml``), turns each role into a link to the object's entry in the API
reference, or into plain code when the object has no entry there (a private
helper), so that a role never breaks the strict build. A line ending in ``::``
(reStructuredText's literal block) ends in ``:`` in Markdown, whose indented
block is already code.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

#: ``:role:`target```, ``:role:`~target``` (the title is the last name), or
#: ``:role:`title <target>```.
_ROLE = re.compile(
    r":(?:py:)?(?P<role>class|func|meth|attr|data|mod|exc|obj|const):"
    r"`(?P<short>~)?(?:(?P<title>[^`<]+?)\s*<(?P<explicit>[^`>]+)>|(?P<target>[^`]+))`"
)
_CALLABLE = frozenset({"func", "meth"})


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring of the loaded package."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:  # noqa: ANN401, ARG002
        """Rewrite `obj`'s docstring once the object tree is complete."""
        if obj.docstring is None:
            return
        text = _ROLE.sub(lambda match: _reference(obj, match), obj.docstring.value)
        obj.docstring.value = re.sub(r"(?m)^(\s*)::$", "", re.sub(r"(?m)(\S)::$", r"\1:", text))


def _reference(obj: griffe.Object, match: re.Match[str]) -> str:
    target = (match["explicit"] or match["target"]).strip()
    if match["title"]:
        title = match["title"]
    else:
        title = target.rsplit(".", 1)[-1] if match["short"] else target
        if match["role"] in _CALLABLE:
            title += "()"
    identifier = _resolved(obj, target)
    # An optional reference links when the target is documented and is code otherwise.
    return f'<autoref identifier="{identifier}" optional><code>{title}</code></autoref>'


def _resolved(obj: griffe.Object, target: str) -> str:
    """Return the full path of `target` as it is named in `obj`'s scope."""
    if target.startswith("dicomize"):
        return target
    first, _, rest = target.partition(".")
    try:
        path = obj.resolve(first)
    except (griffe.NameResolutionError, KeyError):
        return target
    return f"{path}.{rest}" if rest else path
