"""JUnit XML and CSV as CI systems read them: one writer each for `audit` and `policy check`.

Resource names, tags and messages come from the accounts and programs checked. In JUnit XML they are shown
as printable lines: XML 1.0 cannot hold most control characters (an ESC made the whole report unreadable, a
name that is no UTF-8 could not be written), and a message, a name or an output line is one line. In CSV a
cell starting with '=', '+', '-' or '@' is a formula to a spreadsheet (`=HYPERLINK(...)`): it is written
after a "'", as OWASP advises."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bucketguard.printable import one_line


@dataclass(frozen=True)
class Failure:
    message: str
    type: str
    text: str


@dataclass
class JUnitCase:
    """One JUnit test case: failures fail it, `output` lines are shown with it, `skipped` skips it."""

    classname: str
    name: str
    failures: list[Failure] = field(default_factory=list)
    output: list[str] = field(default_factory=list)
    skipped: Failure | None = None


def _lines(text: str) -> str:
    return "\n".join(map(one_line, text.split("\n")))


def junit_xml(suite_name: str, cases: Sequence[JUnitCase], seconds: float) -> str:
    suite = ET.Element("testsuite", name=one_line(suite_name))
    for case in cases:
        element = ET.SubElement(
            suite, "testcase", classname=one_line(case.classname), name=one_line(case.name)
        )
        for failure in case.failures:
            attributes = {"message": one_line(failure.message), "type": one_line(failure.type)}
            ET.SubElement(element, "failure", attributes).text = _lines(failure.text)
        if case.skipped is not None:
            skipped = ET.SubElement(element, "skipped", message=one_line(case.skipped.message))
            skipped.text = _lines(case.skipped.text)
        if case.output:
            ET.SubElement(element, "system-out").text = "\n".join(map(one_line, case.output))
    suite.set("tests", str(len(cases)))
    suite.set("skipped", str(sum(case.skipped is not None for case in cases)))
    suite.set("failures", str(sum(len(case.failures) for case in cases)))
    suite.set("errors", "0")
    suite.set("time", f"{seconds:.3f}")
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_STARTS) else value


def csv_text(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(map(_cell, row) for row in rows)
    return out.getvalue()
