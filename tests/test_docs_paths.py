"""Every file the docs name exists: paths in backticks and relative links, in README and docs/.

Files move; a page that still names the old place sends a reader nowhere. A path counts when it
starts with one of the checkout's top-level folders (``rtl/top.py``, ``sim/csrc/``); generated
places (``build/...``) and patterns (``<config>``, ``*``) are not files of the checkout.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
FOLDERS = ("rtl", "sim", "driver", "firmware", "runtime", "tinynpu", "tests", "docs", "examples")

_CODE = re.compile(r"`([^`\s]+)`")
_LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")


def _named_paths(text):
    """The checkout paths a page names in backticks."""
    for token in _CODE.findall(text):
        token = token.rstrip(".,:;")
        if token.split("/", 1)[0] in FOLDERS and "/" in token and not re.search(r"[<>*{}]", token):
            yield token


def _links(text):
    """The relative link targets of a page."""
    return [t for t in _LINK.findall(text) if not re.match(r"[a-z]+:", t)]


def test_the_checker_finds_paths_and_links():
    text = "See `rtl/top.py`, `build/x.v`, `sim/<x>.py` and [the MMU](page-tables.md#walks)."
    assert list(_named_paths(text)) == ["rtl/top.py"]
    assert _links(text) == ["page-tables.md"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_named_files_exist(page):
    text = page.read_text()
    missing = [p for p in _named_paths(text) if not (ROOT / p).exists()]
    missing += [t for t in _links(text) if not (page.parent / t).exists()]
    assert not missing, f"{page.relative_to(ROOT)} names files that do not exist: {missing}"
