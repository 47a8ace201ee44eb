"""The new Security Hub through the real template on the stack emulator: a `Findings
Imported V2` event matched by AutoRouteV2Rule, routed through the queue to the responder,
a ticket opened through the connector, the finding written back, with the IAM audit."""

from __future__ import annotations

import copy

from hubrelay_emulator import demo, demo_v2


def test_a_v2_event_opens_one_ticket_and_is_written_back_with_no_denied_call(make_stack):
    # Given the stack routing the new Security Hub to its ticket connector and SNS
    stack = make_stack(
        SecurityHubs="SecurityHub",
        EnableSns="true",
        AutoRoute="true",
        AutoRouteDestinations="sns,ticket",
        TicketConnectorId=demo_v2.CONNECTOR_ID,
    )
    demo_v2.create_connector(stack)
    # When GuardDuty's finding arrives, is updated, and its first event is replayed
    result = demo_v2.route_out(stack)
    # Then one ticket is opened, and the finding is In Progress with the ticket and the
    # SNS message in its comment
    assert len(result.tickets) == 1
    assert result.delivered == ["sns", "ticket"]
    assert result.status == "2 In Progress"
    assert result.tickets[0].split()[0] in result.comment
    assert "SNS (" in result.comment
    # And no custom action exists (the new Security Hub has none), no call was denied
    assert not any(r.endswith("ActionTarget") for r in stack.resources)
    assert stack.checker.denied() == []


def test_a_cspm_stack_leaves_the_new_security_hub_alone(make_stack):
    stack = make_stack(AutoRoute="true", AutoRouteDestinations="sns", EnableSns="true")
    assert "AutoRouteV2Rule" not in stack.resources
    event = stack.contract.import_v2(demo_v2.guardduty_finding(stack.account, stack.region))
    stack.put_event(copy.deepcopy(event))
    stack.drain()
    assert stack.report.events_matched.get("AutoRouteV2Rule", 0) == 0
    assert stack.contract.findings_v2(stack.account, stack.region)[0]["status_id"] == 1


def test_the_demo_shows_the_new_security_hub_beside_cspm():
    summary = demo.run(findings=60, vulnerabilities=20)
    assert summary.v2.tickets == ["SEC-1 https://example.atlassian.net/browse/SEC-1"]
    assert summary.v2.status == "2 In Progress"
    assert summary.written_back == 3  # the CSPM custom action, as before
    assert summary.denied_calls == 0
    assert demo.failures(summary) == []
    text = demo.render(summary)
    assert "ticket (connector)       1 opened: SEC-1" in text
    # The status synced back: a real HTTP callback to the stack's function URL resolves the
    # CSPM finding, the vendor's closure the new Security Hub's; a replay and another
    # secret are refused; no call denied.
    assert (summary.syncback.resolved_cspm, summary.syncback.resolved_v2) == (1, 1)
    assert summary.syncback.statuses == {"CSPM": "RESOLVED", "new Security Hub": "4 Resolved"}
    assert "synced back              1 resolved (CSPM), 1 resolved (new Security Hub)" in text
    assert "the same delivery again: HTTP 409; another secret: HTTP 401" in text
