"""The README stays short and starts people; the manual in docs/ covers the public API and the IODs.

The site itself is built with warnings as errors by ``scripts/check`` (``mkdocs build
--strict``), which checks every link and anchor between the pages of docs/; these tests
hold what that build cannot see.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

import dicomize
from dicomize.iods import IODS

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


def _tables() -> ModuleType:
    """The build's hook that writes the registry's tables into the pages."""
    spec = importlib.util.spec_from_file_location("iod_tables", DOCS / "_ext" / "iod_tables.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_conformance_statement_lists_exactly_the_sop_classes_dicomize_writes() -> None:
    raw = (DOCS / "conformance.md").read_text(encoding="utf-8")
    text = _tables().on_page_markdown(raw)
    overview = text[: text.index("### Web services")]
    storage = set(re.findall(r"\| (1\.2\.840\.10008\.5\.1\.4\.1\.1\.[\d.]+) \|", overview))
    assert storage == {uid for iod in IODS.values() for uid in iod.sop_classes}


def test_every_choosable_iod_is_in_the_manual_the_cli_and_the_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from dicomize.cli import build_parser

    table = _tables().on_page_markdown((DOCS / "guides" / "convert.md").read_text("utf-8"))
    named = set(re.findall(r"^\| [^|]+ \| `([a-z0-9-]+)` \|", table, re.MULTILINE))
    choosable = {iod.name for iod in IODS.values() if iod.chosen}
    assert named == choosable
    for command in ("convert", "batch", "watch"):
        with pytest.raises(SystemExit):
            build_parser(command).parse_args([command, "--help"])
        help_text = capsys.readouterr().out
        # argparse lists a flag's choices as {a,b,...} in its usage and help.
        listed = re.search(r"--iod \{([a-z0-9,-]+)\}", help_text)
        assert listed is not None, command
        assert set(listed.group(1).split(",")) == choosable, command
    for name in choosable:
        assert dicomize.ConvertOptions(iod=name).iod == name
