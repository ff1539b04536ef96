"""Seconds each test file took in a run of ``make test``, kept in ``tests/durations.json``
for the root conftest, which hands the files to pytest-xdist longest first.

``python tests/durations.py RESULTS.xml`` rewrites the table from a JUnit XML report
(``make test PYTEST_ADDOPTS=--junitxml=RESULTS.xml``). Only the order of the figures
matters, not the machine they were measured on; a file missing from the table is
estimated from its number of tests.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

TABLE = Path(__file__).with_name("durations.json")


def file_of(classname: str) -> str:
    """``services.work.tests.test_bulk.TestX`` → ``services/work/tests/test_bulk.py``."""
    parts = classname.split(".")
    for index, part in enumerate(parts):
        if part.startswith("test_"):
            return "/".join(parts[: index + 1]) + ".py"
    return "/".join(parts) + ".py"


def seconds_per_file(report: Path) -> dict[str, int]:
    seconds: dict[str, float] = defaultdict(float)
    for case in ET.parse(report).iter("testcase"):
        seconds[file_of(case.get("classname", ""))] += float(case.get("time") or 0)
    return {file: max(1, round(total)) for file, total in sorted(seconds.items())}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    table = seconds_per_file(Path(sys.argv[1]))
    TABLE.write_text(json.dumps(table, indent=1) + "\n")
    print(f"{TABLE}: {len(table)} files, {sum(table.values())} s in all")
