"""Rewrite the generated tables of docs/reference.md: the configuration keys, from their declaration
in src/framepick/config.py, and report.json's keys, from the declarations of the sections that
write them in src/framepick/results.py (framepick.report_keys renders them).

    python scripts/update_reference.py           # rewrite the tables in place
    python scripts/update_reference.py --check   # exit 1 if a table is out of date

tests/test_reference.py fails while a table and its source disagree, and while a run writes a
report.json key that no section declares with a description.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))  # this checkout's framepick, installed or not

from framepick.config import with_keys_table  # noqa: E402
from framepick.report_keys import with_report_keys_table  # noqa: E402

PAGES = (ROOT / "docs" / "reference.md",)


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        fresh = with_report_keys_table(with_keys_table(text))
        if fresh != text:
            stale.append(page)
            if not check:
                page.write_text(fresh, encoding="utf-8")
    for page in stale:
        print(f"{page.relative_to(ROOT)}: {'out of date' if check else 'rewritten'}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
