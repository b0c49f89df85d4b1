"""JUnit XML and CSV as CI systems read them: one writer each for `audit` and `policy check`."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any


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


def junit_xml(suite_name: str, cases: Sequence[JUnitCase], seconds: float) -> str:
    suite = ET.Element("testsuite", name=suite_name)
    for case in cases:
        element = ET.SubElement(suite, "testcase", classname=case.classname, name=case.name)
        for failure in case.failures:
            ET.SubElement(element, "failure", message=failure.message, type=failure.type).text = failure.text
        if case.skipped is not None:
            ET.SubElement(element, "skipped", message=case.skipped.message).text = case.skipped.text
        if case.output:
            ET.SubElement(element, "system-out").text = "\n".join(case.output)
    suite.set("tests", str(len(cases)))
    suite.set("skipped", str(sum(case.skipped is not None for case in cases)))
    suite.set("failures", str(sum(len(case.failures) for case in cases)))
    suite.set("errors", "0")
    suite.set("time", f"{seconds:.3f}")
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)


def csv_text(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return out.getvalue()
