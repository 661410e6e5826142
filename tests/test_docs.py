"""The README stays short and starts people; the manual in docs/ covers the public API and the IODs.

The site itself is built with warnings as errors by ``scripts/check`` (``mkdocs build
--strict``), which checks every link and anchor between the pages of docs/; these tests
hold what that build cannot see.
"""

from __future__ import annotations

import re
from pathlib import Path

import dicomize
from dicomize.iods import MODALITY_RULES

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
#: The two set-up commands: install and convert the sample; install and run every check.
SETUP_COMMANDS = (
    "scripts/bootstrap && .venv/bin/dicomize convert samples/wound-photo.jpg -o wound-photo.dcm "
    '--patient-name "Doe^Jane" --patient-id 12345',
    "scripts/check",
)


def test_readme_is_at_most_10_kb() -> None:
    assert README.stat().st_size <= 10 * 1024


def test_readme_and_setup_page_give_the_same_two_setup_commands() -> None:
    for page in (README, DOCS / "setup.md"):
        blocks = re.findall(r"```sh\n(.*?)\n```", page.read_text(encoding="utf-8"), re.DOTALL)
        assert list(SETUP_COMMANDS) == blocks[:2], page


def test_readme_links_lead_to_files_in_the_repository() -> None:
    text = README.read_text(encoding="utf-8")
    targets = [t for t in re.findall(r"\]\(([^)]+)\)", text) if "://" not in t]
    assert len(targets) >= 10  # the pages of the manual
    missing = [t for t in targets if not (ROOT / t.split("#")[0]).is_file()]
    assert missing == []


def test_api_reference_documents_every_public_name() -> None:
    reference = "\n".join(
        path.read_text(encoding="utf-8") for path in sorted((DOCS / "reference").glob("*.md"))
    )
    documented = set(re.findall(r"^::: dicomize\.(\w+)\s*$", reference, re.MULTILINE))
    errors = set(dicomize.errors.__all__) if "errors" in documented else set()
    missing = sorted(set(dicomize.__all__) - documented - errors - {"__version__"})
    assert missing == [], "add each to a page of docs/reference/"


def test_conformance_statement_lists_exactly_the_sop_classes_dicomize_writes() -> None:
    text = (DOCS / "conformance.md").read_text(encoding="utf-8")
    overview = text[: text.index("### Web services")]
    storage = set(re.findall(r"\| (1\.2\.840\.10008\.5\.1\.4\.1\.1\.[\d.]+) \|", overview))
    assert storage == set(MODALITY_RULES)
