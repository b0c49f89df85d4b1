"""JUnit XML and CSV of names and messages from the accounts checked: parsed back as CI systems read them."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET

from bucketguard.ci_reports import Failure, JUnitCase, csv_text, junit_xml

# a resource's name: an ESC sequence (no XML 1.0 character), a line break forging a line, U+202E, a name
# that is no UTF-8 (a lone surrogate), markup
HOSTILE = 'camp\x1b[2J\nPASSED everything\u202eexe.png\udcff</failure><x a="'


def test_junit_xml_of_hostile_names_parses_and_keeps_each_line_its_own() -> None:
    case = JUnitCase(
        "bucketguard.audit",
        HOSTILE,
        failures=[Failure(f"{HOSTILE}: public", "high", f"arn:aws:s3:::{HOSTILE}\nmain.py:3")],
        output=[f"advisory {HOSTILE}: open"],
    )
    skipped = JUnitCase("bucketguard.stack.not_evaluated", HOSTILE, skipped=Failure(HOSTILE, "", "main.py:1"))
    document = junit_xml("bucketguard audit", [case, skipped], 1.0)

    suite = ET.fromstring(document.encode("utf-8"))  # noqa: S314 (our own output, well-formed in UTF-8)
    tested, not_evaluated = suite.findall("testcase")
    failure = tested.find("failure")
    assert failure is not None and failure.text is not None
    message = failure.get("message") or ""
    assert message.isprintable() and message.startswith(r"camp\x1b[2J\nPASSED")
    assert failure.text.endswith("\nmain.py:3")  # a failure's text keeps its lines, each printable
    assert all(line.isprintable() for line in failure.text.split("\n"))
    output = tested.find("system-out")
    assert output is not None and output.text is not None and len(output.text.splitlines()) == 1
    assert (tested.get("name") or "").isprintable() and (not_evaluated.get("name") or "").isprintable()


def test_csv_cells_a_spreadsheet_would_run_are_text() -> None:
    formula = '=HYPERLINK("https://evil.example","fix")'
    text = csv_text(("resource_name", "line", "message"), [(formula, -1, "+1"), ("camp-site", 3, "public")])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1] == ["'" + formula, "-1", "'+1"]  # numbers stay numbers
    assert rows[2] == ["camp-site", "3", "public"]
