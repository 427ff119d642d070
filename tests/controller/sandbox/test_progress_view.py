"""The progress view: plain lines only when a number changed; a table redrawn in place on a TTY."""

from __future__ import annotations

import io
import os
import select

from controller.sandbox.progress import AwsNumbers, ControllerNumbers, Progress, parse_controller_metrics
from controller.sandbox.progress_view import LiveView, PlainView, plain_line, progress_view

METRICS = """\
# HELP controller_runtime_reconcile_total Total number of reconciliations per controller
# TYPE controller_runtime_reconcile_total counter
controller_runtime_reconcile_total{controller="ingress",result="success"} 3.0
controller_runtime_reconcile_total{controller="ingress",result="error"} 1.0
controller_runtime_reconcile_total{controller="ingress",result="requeue"} 0.0
controller_runtime_reconcile_total{controller="targetGroupBinding",result="success"} 2.0
controller_runtime_reconcile_total{controller="targetGroupBinding",result="requeue_after"} 4.0
controller_runtime_reconcile_total{controller="targetGroupBinding",result="error"} 2.0
# HELP workqueue_depth Current depth of workqueue
# TYPE workqueue_depth gauge
workqueue_depth{name="ingress"} 2.0
workqueue_depth{name="service"} 1.0
# HELP aws_api_calls_total calls
# TYPE aws_api_calls_total counter
aws_api_calls_total{service="ec2",operation="X",status_code="200",error_code=""} 9.0
"""


def progress(*, calls: int = 7, rules: int = 2) -> Progress:
    return Progress(
        controller=ControllerNumbers(reconciled=9, failed=3, pending=3),
        aws=AwsNumbers(load_balancers=1, our_security_groups=2, node_sg_rules=(("sg-node", rules),)),
        aws_calls=calls,
    )


def test_reconciles_by_result_and_queue_depth_from_the_metrics_text() -> None:
    assert parse_controller_metrics(METRICS) == ControllerNumbers(reconciled=9, failed=3, pending=3)


def test_a_plain_line_names_every_number() -> None:
    assert plain_line(progress()) == (
        "reconciled 9 | pending 3 | failed 3 | load balancers 1 | our SGs 2 | rules on sg-node 2 | AWS calls 7"
    )


def test_unknown_parts_show_as_question_marks() -> None:
    line = plain_line(Progress(controller=None, aws=None, aws_calls=0))
    assert line == (
        "reconciled ? | pending ? | failed ? | load balancers ? | our SGs ? | rules on node SGs ? | AWS calls 0"
    )


def test_plain_view_prints_a_line_only_when_a_number_changed() -> None:
    out = io.StringIO()
    with PlainView(out) as view:
        for snapshot in (progress(), progress(), progress(calls=8), progress(calls=8), progress(rules=3)):
            view.show(snapshot)
    assert [line.split(" | ")[-2:] for line in out.getvalue().splitlines()] == [
        ["rules on sg-node 2", "AWS calls 7"],
        ["rules on sg-node 2", "AWS calls 8"],
        ["rules on sg-node 3", "AWS calls 7"],
    ]


def test_not_a_terminal_gets_plain_lines() -> None:
    assert isinstance(progress_view(io.StringIO(), "t"), PlainView)


def read_all(fd: int) -> str:
    """Everything written to the pty so far (one read may return only part of it)."""
    chunks: list[bytes] = []
    while select.select([fd], [], [], 0)[0]:
        chunks.append(os.read(fd, 65536))
    return b"".join(chunks).decode()


def test_a_terminal_gets_the_table_redrawn_in_place() -> None:
    leader, follower = os.openpty()
    try:
        with os.fdopen(follower, "w", closefd=False) as tty:
            view = progress_view(tty, "make run")
            assert isinstance(view, LiveView)
            with view:
                view.show(progress())
                view.show(progress(calls=8))
            tty.flush()
        written = read_all(leader)
    finally:
        os.close(leader)
        os.close(follower)
    assert "make run" in written and "AWS calls" in written and "rules on sg-node" in written
    first, _, redrawn = written.partition("\x1b[1A")  # cursor up: the lines are drawn over
    assert "│ 7 │" in first and "│ 8 │" in redrawn and "│ 7 │" not in redrawn
