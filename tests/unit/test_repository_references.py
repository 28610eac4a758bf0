"""Every reference the repository makes resolves inside it, and nothing in the
code talks about work that is not there.

- Every rule (`R<n>`) and acceptance case (`T<n>`) cited in product code has
  its heading in `docs/rules.md` (rules R1..R30, cases in its table).
- Every section cited anywhere (`docs/architecture.md` or `docs/rules.md`
  followed by a quoted heading) is a heading of that file, every
  `"Conventions" N` a numbered convention, every `docs/*.md` path exists, and
  every relative link of a Markdown file lands on a file inside the repository.
- No file names a document outside the repository (the design and rules
  documents the project started from live outside it, and nothing may point
  there), and no PEM private key is committed.
- Comments, docstrings and strings of product code (and comments and
  docstrings of tests and benchmarks) say what the code does, never which
  ticket or future step something belongs to.

Ref: docs/architecture.md "Conventions" 9; docs/rules.md.
"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import tokenize
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRODUCT = ("server", "smtp_gateway", "policy", "imap_store", "message", "directory", "certs",
           "migrations")
PROSE_ONLY = ("tests", "bench")
SKIP_DIRS = {".git", ".venv", "venv", "__pycache__", "var", "build", "dist", ".mypy_cache",
             ".ruff_cache", ".pytest_cache"}
RULES, ARCHITECTURE = REPO / "docs" / "rules.md", REPO / "docs" / "architecture.md"

# --- the repository's files ------------------------------------------------------------


def _walk() -> Iterator[Path]:
    for path in sorted(REPO.rglob("*")):
        parts = path.relative_to(REPO).parts
        if any(p in SKIP_DIRS or p.endswith(".egg-info") for p in parts):
            continue
        if path.is_file():
            yield path


@cache
def repo_files() -> tuple[Path, ...]:
    """Tracked and untracked, not ignored, files (git), else a filtered walk."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], cwd=REPO, capture_output=True,
                             check=True).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        return tuple(_walk())
    return tuple(sorted({REPO / n for n in out.split("\0") if n and (REPO / n).is_file()}))


@cache
def read(path: Path) -> str | None:
    """The file's text, or None for a binary or non-UTF-8 file."""
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def text_files() -> Iterator[tuple[Path, str]]:
    for path in repo_files():
        text = read(path)
        if text is not None:
            yield path, text


def python_files(*tops: str) -> Iterator[tuple[Path, str]]:
    for path, text in text_files():
        if path.suffix == ".py" and path.relative_to(REPO).parts[0] in tops:
            yield path, text


def where(path: Path, text: str, offset: int) -> str:
    return f"{path.relative_to(REPO)}:{text.count(chr(10), 0, offset) + 1}"


# --- the documents' headings ------------------------------------------------------------

HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*$", re.MULTILINE)
RULE_HEADING = re.compile(r"^## R(\d+)\. \S", re.MULTILINE)


@cache
def headings(doc: Path) -> frozenset[str]:
    return frozenset(HEADING.findall(read(doc) or ""))


def section(doc: Path, name: str) -> str:
    """The body of the `## name` section of `doc` (up to the next `## `)."""
    text = read(doc) or ""
    start = re.search(rf"^## {re.escape(name)}[ \t]*$", text, re.MULTILINE)
    assert start, f"{doc.relative_to(REPO)} has no '## {name}' section"
    end = re.search(r"^## ", text[start.end():], re.MULTILINE)
    return text[start.end(): start.end() + end.start()] if end else text[start.end():]


def rule_headings() -> list[int]:
    return [int(n) for n in RULE_HEADING.findall(read(RULES) or "")]


def case_rows() -> list[int]:
    return [int(n) for n in re.findall(r"^\| T(\d+) \|", section(RULES, "Acceptance cases"),
                                       re.MULTILINE)]


def convention_items() -> list[int]:
    return [int(n) for n in re.findall(r"^(\d+)\. ", section(ARCHITECTURE, "Conventions"),
                                       re.MULTILINE)]


# --- (a) rule and case numbers ----------------------------------------------------------

NUMBERED = {"R": re.compile(r"\bR(\d+)(?:\s*[-\u2013]\s*R(\d+)\b)?\b"),
            "T": re.compile(r"\bT(\d+)(?:\s*[-\u2013]\s*T(\d+)\b)?\b")}


def cited_numbers(letter: str, text: str) -> Iterator[tuple[int, int]]:
    """(number, offset) of every `R<n>` (or `T<n>`), ranges `R14-R16` expanded."""
    for m in NUMBERED[letter].finditer(text):
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) else first
        for n in range(first, max(first, last) + 1):
            yield n, m.start()


def test_rules_doc_has_r1_to_r30_in_order_and_every_case_in_its_table() -> None:
    assert rule_headings() == list(range(1, 31))
    rows = case_rows()
    assert rows == list(range(1, len(rows) + 1)) and len(rows) >= 42


@pytest.mark.parametrize("letter", ["R", "T"])
def test_every_rule_and_case_cited_in_product_code_is_in_rules_doc(letter: str) -> None:
    known = set(rule_headings() if letter == "R" else case_rows())
    missing = [f"{where(p, t, at)}: {letter}{n}" for p, t in python_files(*PRODUCT)
               for n, at in cited_numbers(letter, t) if n not in known]
    assert not missing, "not in docs/rules.md:\n" + "\n".join(missing)


def test_every_rule_cited_in_tests_and_benchmarks_is_in_rules_doc() -> None:
    known = set(rule_headings())
    missing = [f"{p.relative_to(REPO)}:{line}: R{n}" for p, t in python_files(*PROSE_ONLY)
               for line, prose in prose_of(t, strings=False)
               for n, _at in cited_numbers("R", prose) if n not in known]
    assert not missing, "not in docs/rules.md:\n" + "\n".join(missing)


# --- (b) section citations --------------------------------------------------------------

_NAME = r'"[^"]{1,80}"'
_NUMBERS = r"(?:[ \t]*\d+(?:[ \t]*[-\u2013][ \t]*\d+)?(?:(?:[ \t]*,[ \t]*|[ \t]+and[ \t]+)\d+" \
           r"(?:[ \t]*[-\u2013][ \t]*\d+)?)*)?"
_PAREN = r"(?:[ \t]*\([^()]*\))?"
CITATION = re.compile(rf"docs/(architecture|rules)\.md((?:(?:[\s#,;]|and\b)*{_NAME}{_NUMBERS}"
                      rf"{_PAREN})+)")
NAMES = re.compile(rf"({_NAME})({_NUMBERS})")
CONVENTIONS = '"Conventions"'


def expand(numbers: str) -> list[int]:
    found: list[int] = []
    for first, last in re.findall(r"(\d+)(?:\s*[-\u2013]\s*(\d+))?", numbers):
        found += range(int(first), int(last or first) + 1)
    return found


def citations() -> Iterator[tuple[str, Path, str, list[int]]]:
    """(where, document, section name, convention numbers) for every citation."""
    for path, text in text_files():
        for m in CITATION.finditer(text):
            doc = ARCHITECTURE if m.group(1) == "architecture" else RULES
            for name, numbers in NAMES.findall(re.sub(r"\([^()]*\)", "", m.group(2))):
                title = re.sub(r"\s*\n[\s#]*", " ", name[1:-1]).strip()
                yield where(path, text, m.start()), doc, title, expand(numbers)


def test_citations_are_found() -> None:
    found = list(citations())
    assert len(found) > 50
    assert any(name == "Conventions" and nums for _w, _d, name, nums in found)


def test_every_cited_section_is_a_heading_of_its_document() -> None:
    bad = [f"{at}: {doc.relative_to(REPO)} \"{name}\"" for at, doc, name, _n in citations()
           if name not in headings(doc)]
    assert not bad, "no such heading:\n" + "\n".join(bad)


def test_every_cited_convention_number_is_a_numbered_convention() -> None:
    items = set(convention_items())
    assert items == set(range(1, 15))
    bad = [f"{at}: Conventions {n}" for at, doc, name, nums in citations()
           if doc == ARCHITECTURE and name == "Conventions" for n in nums if n not in items]
    assert not bad, "no such convention:\n" + "\n".join(bad)


def test_every_citation_of_a_document_parses() -> None:
    """A citation of a docs file that the pattern cannot read would escape the checks."""
    bad = []
    for path, text in text_files():
        parsed = {m.start() for m in CITATION.finditer(text)}
        for m in re.finditer(r'docs/(?:architecture|rules)\.md[\s#]*"', text):
            if m.start() not in parsed:
                bad.append(where(path, text, m.start()))
    assert not bad, "unreadable citation:\n" + "\n".join(bad)


def test_every_docs_path_exists() -> None:
    bad = [f"{where(p, t, m.start())}: {m.group(0)}" for p, t in text_files()
           for m in re.finditer(r"(?<![\w/.-])docs/[\w./-]+\.md\b", t)
           if not (REPO / m.group(0)).is_file()]
    assert not bad, "missing file:\n" + "\n".join(bad)


TOPS = "|".join((*PRODUCT, *PROSE_ONLY, "docs"))
REPO_PATH = re.compile(rf"(?<![\w/.-])((?:{TOPS})/(?:[\w.-]+/)*(?:[\w.-]+\.(?:py|md))?)"
                       rf"(?![\w.-])(?:::(\w+))?")


def test_paths_named_in_markdown_exist() -> None:
    """Folders, `.py` and `.md` files (and `file.py::test_name`) that documents name exist.

    Other names under `certs/` (`certs/ca.pem`) are files of an operator directory.
    """
    bad = []
    for path, text in text_files():
        if path.suffix != ".md":
            continue
        for m in REPO_PATH.finditer(text):
            target = REPO / m.group(1)
            if not target.exists():
                bad.append(f"{where(path, text, m.start())}: {m.group(1)}")
            elif m.group(2) and not re.search(rf"^(?:async )?def {m.group(2)}\(",
                                              read(target) or "", re.MULTILINE):
                bad.append(f"{where(path, text, m.start())}: {m.group(0)}")
    assert not bad, "no such file or test:\n" + "\n".join(bad)


def test_markdown_links_resolve_inside_the_repository() -> None:
    bad = []
    for path, text in text_files():
        if path.suffix != ".md":
            continue
        for m in re.finditer(r"\]\(([^)\s]+)\)", text):
            target = m.group(1).split("#", 1)[0]
            if not target or re.match(r"[a-z][a-z0-9+.-]*:", target):
                continue
            resolved = (path.parent / target).resolve()
            if not resolved.is_relative_to(REPO) or not resolved.exists():
                bad.append(f"{where(path, text, m.start())}: {m.group(1)}")
    assert not bad, "link outside the repository or to nothing:\n" + "\n".join(bad)


def test_unqualified_section_numbers_in_product_code() -> None:
    """`section 3` alone points into a document outside the repository."""
    bad = []
    for path, text in python_files(*PRODUCT):
        for m in re.finditer(r"\bsection \d", text):
            if not re.search(r"RFC[ \t]*\d+[ \t]*$", text[max(0, m.start() - 20): m.start()]):
                bad.append(where(path, text, m.start()))
    assert not bad, "cite docs/rules.md or an RFC instead:\n" + "\n".join(bad)


# --- (c) nothing outside the repository -------------------------------------------------

# Built from pieces so that this file does not contain the names it looks for.
OUTSIDE_NAMES = ("../" + "shared", "MSS-" + "RULES", "ARCHITECTURE" + ".md", "STYLE" + ".md",
                 "mss-faq" + "-fr", "/work" + "/", "/tmp/" + "prompts", ".library" + "/")
OUTSIDE_PATH = re.compile(r"(?<![\w/.])(?:\.\./)+[\w.-]+(?:/[\w.-]+)*\.(?:md|txt|xml|toml|json"
                          r"|ya?ml|pdf|csv|sh|py)\b")
PRIVATE_KEY = re.compile("-----BEGIN (?:[A-Z]+ )?" + "PRIVATE KEY-----")


def test_no_file_names_a_document_outside_the_repository() -> None:
    bad = [f"{where(p, t, t.index(name))}: {name}" for p, t in text_files()
           for name in OUTSIDE_NAMES if name in t]
    bad += [f"{where(p, t, m.start())}: {m.group(0)}" for p, t in text_files()
            for m in OUTSIDE_PATH.finditer(t)
            if not (p.parent / m.group(0)).resolve().is_relative_to(REPO)]
    assert not bad, "names something outside the repository:\n" + "\n".join(bad)


def test_no_private_key_is_committed() -> None:
    bad = [str(p.relative_to(REPO)) for p, t in text_files() if PRIVATE_KEY.search(t)]
    assert not bad, f"private key in the repository: {bad}"


# --- (d) no tickets, plans or leftovers in the code's prose -----------------------------

PLAN_PATTERNS = [re.compile(p) for p in (
    r"(?i)\bissues?\s+#?\d",
    r"(?i)\bissues?\s*\)",
    r"(?i)\bissue\s+[\"\u201c]",
    r"(?i)\b(?:coming|later|next|future|scale-out|following|previous|earlier|its|this|that"
    r"|each|separate|own|relay|mx|inter-operator|foundation)\s+issues?\b",
    r"(?i)\bthe issues\b",
    r"(?i)\bacceptance\s+(?:criteri\w+\s+)?\d",
    r"(?i)\bturn \d",
    r"(?i)\bnot yet\b(?!\s+(?:consumed|sent|seen|read|known|announced|claimed|committed"
    r"|expired|loaded|received|delivered|written|imported|stored|flushed|parsed))",
    r"(?i)\b(?:implemented|supported|available|served|wired|done|enabled|handled|nothing"
    r"|enabling)\s+yet\b",
    r"(?i)\byet to be\b",
    r"(?i)\bfor now\b",
    r"(?i)\b(?:at|for|in|after|until|before|with) scale-out\b",
    r"(?i)\b(?:in|with|until) (?:a|the) (?:later|future|next|coming) (?:version|release"
    r"|step|change)\b",
    r"\b(?:TODO|FIXME|XXX)\b",
    r"(?<![\w&])#\d+\b",
)]
ALLOWED_BEFORE_HASH = re.compile(r"(?:Référentiel|socle|MSSanté|Ref)[^\n]{0,12}$")


def prose_of(text: str, *, strings: bool) -> Iterator[tuple[int, str]]:
    """(line, text) of every comment and docstring, and of every string if `strings`."""
    kinds = {"COMMENT", "STRING", "FSTRING_MIDDLE"} if strings else {"COMMENT"}
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tokenize.tok_name[tok.type] in kinds:
            yield tok.start[0], tok.string
    if not strings:
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef
                          | ast.AsyncFunctionDef) and ast.get_docstring(node) is not None:
                yield node.body[0].lineno, ast.get_docstring(node) or ""


def plan_words(prose: str) -> list[tuple[int, str]]:
    """(offset, words) of everything in `prose` that talks about tickets or plans."""
    hits = []
    for pattern in PLAN_PATTERNS:
        for m in pattern.finditer(prose):
            if m.group(0).startswith("#") and ALLOWED_BEFORE_HASH.search(prose[:m.start()]):
                continue
            hits.append((m.start(), m.group(0)))
    return hits


def plan_violations() -> list[str]:
    found = []
    for tops, strings in ((PRODUCT, True), (PROSE_ONLY, False)):
        for path, text in python_files(*tops):
            for line, prose in prose_of(text, strings=strings):
                found += [f"{path.relative_to(REPO)}:{line + prose.count(chr(10), 0, at)}: "
                          f"{hit!r}" for at, hit in plan_words(prose)]
    return found


@pytest.mark.parametrize("prose", [
    "issue 3 acceptance 1", "see issue #12", "(comes with the relay issue)",
    "ENABLE enables nothing yet", "not yet implemented", "TODO: check", "for now we skip",
    "replaces the timeout at scale-out", "measured in turn 2", "fixed in #42",
    'issue "Accounts", acceptance 1-5', "handled in a later version",
])
def test_plan_patterns_catch(prose: str) -> None:
    assert plan_words(prose)


@pytest.mark.parametrize("prose", [
    "issue a certificate", "the CA issues server certificates", "issuer DN",
    "Service shutting down, try again later", "bytes received and not yet consumed",
    "outbox events not yet sent", "Ref#2 binds the LPS", "Référentiel socle MSSanté #2",
    "`doctor` found an issue", "a later enforced rule", "fg: `#3f2a9c`",
    "no trust list imported yet", "`\\XX` hex escapes", "T0 = datetime(2026, 1, 1)",
])
def test_plan_patterns_spare(prose: str) -> None:
    assert not plan_words(prose)


def test_no_ticket_or_plan_talk_in_code() -> None:
    found = plan_violations()
    assert not found, "say what the code does instead:\n" + "\n".join(found)
