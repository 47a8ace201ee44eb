"""Fault injection with conservation accounting: every finding imported or quarantined."""

from __future__ import annotations

import pytest

from hubrelay_emulator import faults

# Over a minute together: `make test` runs them, `make check` does not.
pytestmark = pytest.mark.slow

# 7 import-path kinds x 1,250 + 2 source kinds x 1,250 + mixed 2,000 = 13,250 findings
# through the stack emulator, plus 60 findings sent to a destination that is down.
PER_KIND = 1_250


@pytest.mark.parametrize("kind", [*faults.FAULTS, *faults.SOURCE_FAULTS])
def test_no_finding_is_lost_or_duplicated_under(kind):
    ledger = faults.run_kind([kind], PER_KIND)
    if kind in faults.SOURCE_FAULTS:
        assert ledger.faults_hit > 0, "the fault never happened"
    assert ledger.lost == 0, f"lost {ledger.lost}: {ledger.lost_ids}"
    assert ledger.duplicates == 0
    assert ledger.unreadable == 0
    assert ledger.imported + sum(ledger.quarantined.values()) + ledger.filtered == ledger.source


def test_no_finding_is_lost_when_every_fault_happens_at_once():
    ledger = faults.run_kind(list(faults.FAULTS), 2_000)
    assert ledger.lost == 0, f"lost {ledger.lost}: {ledger.lost_ids}"
    assert ledger.duplicates == 0
    assert ledger.unreadable == 0
    # The faults really happened: throttles and an unsubscribed account at least (which
    # message a crash hits on its last receive varies, so other reasons may be SQS's)
    assert ledger.throttled > 0
    assert ledger.quarantined.get("InvalidAccess", 0) > 0
    assert set(ledger.quarantined) <= {
        "InvalidAccess",
        "InvalidFinding",
        "InvalidInput",
        "RetriesExhausted",
        "RedrivenBySQS",
    }


def test_quarantine_reasons_name_the_fault():
    ledger = faults.run_kind(["account unsubscribed mid-run"], 400)
    assert set(ledger.quarantined) == {"InvalidAccess"}
    assert ledger.imported > 0
