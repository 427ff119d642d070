"""AWS error bodies exactly as EC2 (ec2 protocol) and ELBv2 (query protocol) send them."""

from __future__ import annotations

import uuid
from xml.sax.saxutils import escape

from aiohttp import web

ELBV2_XMLNS = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"


def ec2_error_body(code: str, message: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response><Errors><Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        f"</Error></Errors><RequestID>{uuid.uuid4()}</RequestID></Response>"
    )


def elbv2_error_body(code: str, message: str, *, sender: bool = True) -> str:
    kind = "Sender" if sender else "Receiver"
    return (
        f'<ErrorResponse xmlns="{ELBV2_XMLNS}"><Error><Type>{kind}</Type><Code>{escape(code)}</Code>'
        f"<Message>{escape(message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )


def error_response(service: str, code: str, message: str, status: int) -> web.Response:
    """An error in the format of ``service`` (``ec2`` or ``elbv2``)."""
    if service == "elbv2":
        body = elbv2_error_body(code, message, sender=status < 500)
    else:
        body = ec2_error_body(code, message)
    return web.Response(status=status, text=body, content_type="text/xml")


def throttling_response(service: str) -> web.Response:
    """EC2 answers ``RequestLimitExceeded`` with HTTP 503; ELBv2 answers ``Throttling`` with HTTP 400."""
    if service == "elbv2":
        return error_response("elbv2", "Throttling", "Rate exceeded", 400)
    return error_response("ec2", "RequestLimitExceeded", "Request limit exceeded.", 503)
