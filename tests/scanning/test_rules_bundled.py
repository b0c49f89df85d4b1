"""The bundled rules, compiled from the real rule files, against generated positive and negative samples:
each sample must match EXACTLY the rules it names, under each backend, from memory and from disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yara

from bucketguard.scanning.backends import SEVERITIES, externals_for
from bucketguard.scanning.ruleset import Ruleset, bundled_sources, load_ruleset
from tests.scanning.samples_rules import CASES, RuleCase, cases_for


@pytest.fixture(scope="module")
def ruleset() -> Ruleset:
    return load_ruleset()


def _bundled_rules() -> list[Any]:
    """Every public bundled rule as libyara sees it (identifier, meta)."""
    compiled = yara.compile(
        sources={s.namespace: s.text for s in bundled_sources()}, externals=externals_for("")
    )
    return [rule for rule in compiled if not rule.is_private]


BUNDLED_RULE_NAMES = sorted(rule.identifier for rule in _bundled_rules())


@pytest.mark.parametrize("backend", ["yara", "yara-x"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_sample_matches_exactly_the_expected_rules(ruleset: Ruleset, backend: str, case: RuleCase) -> None:
    matches = ruleset.matcher(backend).match_bytes(case.data, name=case.name)
    assert {m.rule for m in matches} == case.expected


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_sample_matches_the_same_from_disk(ruleset: Ruleset, case: RuleCase, tmp_path: Path) -> None:
    # The file on disk is named innocently: only the logical name may drive the extension rules.
    path = tmp_path / "object.bin"
    path.write_bytes(case.data)
    matches = ruleset.matcher("auto").match_file(path, name=case.name)
    assert {m.rule for m in matches} == case.expected


def test_the_bundled_set_is_what_this_test_covers() -> None:
    assert (
        sorted(
            [
                "Archive_Appended_To_PDF",
                "Archive_Hidden_In_Image",
                "Cryptominer_Browser",
                "Disguised_Executable_ELF",
                "Disguised_Executable_MachO",
                "Disguised_Executable_PE",
                "EICAR_Test_File",
                "HTML_Smuggling_Data_URI_Download",
                "HTML_Smuggling_Embedded_Blob_Download",
                "Office_DDE_Field",
                "Office_OLE_VBA_AutoExec",
                "Office_OOXML_VBA_AutoExec",
                "Office_VBA_AutoExec_Source",
                "Office_XLM_Auto_Open",
                "PDF_JavaScript",
                "PDF_Launch_Action",
                "PDF_OpenAction_Script",
                "Webshell_ASPX_Command_Exec",
                "Webshell_JSP_Command_Exec",
                "Webshell_PHP_Encoded_Payload",
                "Webshell_PHP_Request_Exec",
                "WebInject_Card_Skimmer",
                "WebInject_Executed_Encoded_Blob",
                "WebInject_Hidden_Code_Name",
                "WebInject_Hidden_Iframe",
                "WebInject_Obfuscated_Eval_Loader",
                "WebInject_Remote_Script_Writer",
            ]
        )
        == BUNDLED_RULE_NAMES
    )


@pytest.mark.parametrize("rule", BUNDLED_RULE_NAMES)
def test_every_bundled_rule_has_a_positive_sample(rule: str) -> None:
    assert cases_for(rule), f"{rule} has no positive sample in tests/scanning/samples_rules.py"


def test_there_are_negative_samples_for_each_family() -> None:
    negatives = {c.id for c in CASES if not c.expected}
    for needed in ("neg-minified-library", "neg-pdf-open-page", "neg-php-page", "neg-csv-export"):
        assert needed in negatives


@pytest.mark.parametrize(
    ("family", "rules"),
    [
        ("web skimmers", {"WebInject_Card_Skimmer"}),
        ("web shells", {r for r in BUNDLED_RULE_NAMES if r.startswith("Webshell_")}),
        ("HTML smuggling", {r for r in BUNDLED_RULE_NAMES if r.startswith("HTML_Smuggling_")}),
        ("Office auto-run macros", {r for r in BUNDLED_RULE_NAMES if r.startswith("Office_")}),
    ],
)
def test_technique_families_have_variants_and_look_alikes(family: str, rules: set[str]) -> None:
    """Rules written from the technique: at least five different variants caught per family, and
    legitimate code that uses the same APIs (at least three look-alikes per family) left alone."""
    variants = [c for c in CASES if c.expected & rules]
    assert len(variants) >= 5, family
    look_alikes = {
        "web skimmers": (
            "neg-checkout-form",
            "neg-analytics-beacon",
            "neg-card-formatter",
            "neg-checkout-same-origin",
        ),
        "web shells": ("neg-php-page", "neg-php-framework", "neg-jsp-page", "neg-aspx-page"),
        "HTML smuggling": (
            "neg-csv-export",
            "neg-zip-made-in-browser",
            "neg-pdf-from-server",
            "neg-image-data-uri-download",
        ),
        "Office auto-run macros": (
            "neg-vba-without-autoexec",
            "neg-doc-about-macros",
            "neg-vba-autorun-formatting",
            "neg-vba-button-shell",
            "neg-print-area-and-page-field",
        ),
    }[family]
    negatives = {c.id for c in CASES if not c.expected}
    assert set(look_alikes) <= negatives, family


@pytest.mark.parametrize("rule", _bundled_rules(), ids=lambda r: r.identifier)
def test_every_bundled_rule_carries_its_meta(rule: Any) -> None:
    meta = rule.meta
    assert meta.get("severity") in SEVERITIES
    assert len(str(meta.get("description", ""))) > 10
    assert str(meta.get("reference", "")).startswith("https://")
    assert meta.get("source") in ("yara", "type")


def test_type_rules_say_so_in_their_matches(ruleset: Ruleset) -> None:
    case = next(c for c in CASES if c.id == "pe-as-jpg")
    [match] = ruleset.matcher().match_bytes(case.data, name=case.name)
    assert match.meta["source"] == "type"
    assert match.meta["severity"] == "high"
    assert match.namespace == "bucketguard/disguised_executables.yar"


def test_yara_rules_report_their_severity(ruleset: Ruleset) -> None:
    case = next(c for c in CASES if c.id == "php-system-get")
    [match] = ruleset.matcher().match_bytes(case.data, name=case.name)
    assert (match.rule, match.severity, match.source) == ("Webshell_PHP_Request_Exec", "critical", "yara")


@pytest.mark.parametrize(
    "extension", [".jpg", ".jpeg", ".png", ".gif", ".pdf", ".docx", ".txt", ".js", ".css"]
)
def test_an_executable_is_caught_under_every_harmless_extension(ruleset: Ruleset, extension: str) -> None:
    case = next(c for c in CASES if c.id == "elf-as-jpg")
    for backend in ("yara", "yara-x"):
        matches = ruleset.matcher(backend).match_bytes(case.data, name=f"upload/file{extension}")
        assert [m.rule for m in matches] == ["Disguised_Executable_ELF"]
