"""Every ``# type: ignore`` names its error codes and says why, on the same line."""

from __future__ import annotations

import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("xrclient", "plantgen", "tests", "benchmarks", "scripts")
IGNORE = re.compile(r"#\s*type:\s*ignore\b")
#: the ignore comment, its error codes in brackets, then a comment saying why
WITH_REASON = re.compile(r"#\s*type:\s*ignore\[[a-z-]+(?:,\s*[a-z-]+)*\]\s+#\s*\S.{5,}")


def unexplained(path: Path, root: Path = ROOT) -> list[str]:
    """``file:line`` of each type-ignore comment in ``path`` without codes and a reason."""
    found = []
    with path.open("rb") as fh:
        for tok in tokenize.tokenize(fh.readline):
            if tok.type == tokenize.COMMENT and IGNORE.search(tok.string):
                if not WITH_REASON.search(tok.string):
                    found.append(f"{path.relative_to(root)}:{tok.start[0]}")
    return found


def test_the_check_tells_a_reason_from_none(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "a = f()  # type: ignore[arg-type]  # the stub is wrong about f\n"
        "b = f()  # type: ignore[arg-type]\n"
        "c = f()  # type: ignore\n"
        "d = '# type: ignore'  # not a comment on its own\n",
        "utf-8",
    )
    assert unexplained(sample, tmp_path) == ["sample.py:2", "sample.py:3"]


def test_every_type_ignore_has_its_reason() -> None:
    files = sorted(p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py"))
    assert len(files) > 100
    assert [hit for f in files for hit in unexplained(f)] == []
