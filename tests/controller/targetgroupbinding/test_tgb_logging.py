"""A TargetGroupBinding failure that is reported as a Warning event is one log line per retry."""

from __future__ import annotations

import logging

import pytest
from tgb_harness import Harness

from framework.kube import KubeObject


async def test_a_missing_target_group_is_an_event_and_one_line_per_retry(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="framework.controller")
    node_sg = await harness.security_group("node")
    await harness.create_node("node-1", await harness.instance(node_sg))
    await harness.create_service("web", [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 31224}])
    missing = "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/gone/0123456789abcdef"
    await harness.create_binding("web", arn=missing, target_type="instance", service="web", port=80)
    await harness.start()

    async def warned() -> KubeObject:
        events = [e for e in await harness.events_for("web") if e["reason"] == "FailedReconcile"]
        assert events
        return events[0]

    event = await harness.eventually(warned, "a FailedReconcile Warning")
    assert "TargetGroupNotFound" in event["note"]
    retries = [
        r for r in caplog.records if r.name == "framework.controller" and "key='default/web'" in r.message
    ]
    assert retries, "the failure is logged"
    for record in retries:
        assert record.exc_info is None and "\n" not in record.getMessage()
        assert "TargetGroupNotFound" in record.getMessage()
