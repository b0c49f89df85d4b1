import pytest

from bucketguard.scanning.result import Finding, FindingSource, Reason, ScanResult, Severity, Verdict


def test_result_round_trips_through_its_dict_form() -> None:
    finding = Finding("eicar_test_file", FindingSource.YARA, Severity.HIGH, "a.zip!eicar.com", "EICAR")
    result = ScanResult("a.zip", Verdict.MALICIOUS, (finding,), sha256="00" * 32, size=3, backend="yara-x")
    assert ScanResult.from_dict(result.to_dict()) == result


@pytest.mark.parametrize(
    ("verdict", "findings", "reason"),
    [
        (Verdict.CLEAN, (), Reason.TOO_LARGE),
        (Verdict.MALICIOUS, (), None),
        (Verdict.UNSCANNABLE, (), None),
        (Verdict.ERROR, (), None),
    ],
)
def test_inconsistent_results_cannot_be_built(
    verdict: Verdict, findings: tuple[Finding, ...], reason: Reason | None
) -> None:
    with pytest.raises(ValueError):
        ScanResult("x", verdict, findings, reason)


def test_severity_order() -> None:
    assert Severity.CRITICAL.at_least(Severity.HIGH)
    assert not Severity.LOW.at_least(Severity.MEDIUM)
