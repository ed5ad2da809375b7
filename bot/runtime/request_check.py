"""What the HTTP edge checks before Bolt parses a request: its signature, then its shape.

Bolt parses a body before it verifies the signature, so an unsigned ``payload=%7Bnot`` reached
the parser and answered 500 with a traceback in the log. Here the signature comes first
(anything unsigned or stale is 401 and never parsed), then a signed body must be what Slack
sends: a form, whose ``payload`` (if any) is a JSON object, or a JSON object (events). A
malformed signed body is 400, logged in one line.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

logger = logging.getLogger(__name__)

SIGNATURE_WINDOW_SECONDS = 5 * 60
# Slack's largest payloads (a full modal's state) are tens of kilobytes.
MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Rejection:
    status: str
    reason: str


def check(environ: dict[str, Any], secret: str) -> Rejection | None:
    """None when the request may go on to Bolt (its body put back in ``environ``)."""
    body = _read(environ)
    if body is None:
        return Rejection("413 Payload Too Large", "request too large")
    timestamp = str(environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", ""))
    signature = str(environ.get("HTTP_X_SLACK_SIGNATURE", ""))
    if not signed(body, timestamp, signature, secret):
        return Rejection("401 Unauthorized", "invalid or stale signature")
    problem = _malformed(body, str(environ.get("CONTENT_TYPE", "")))
    if problem is not None:
        logger.warning("refused a signed but malformed request: %s", problem)
        return Rejection("400 Bad Request", problem)
    return None


def signed(body: bytes, timestamp: str, signature: str, secret: str) -> bool:
    """Slack's signature over the raw bytes: ``v0=HMAC-SHA256(secret, "v0:ts:body")``, at most
    five minutes old (https://api.slack.com/authentication/verifying-requests-from-slack).

    slack_sdk's verifier decodes the body as UTF-8 and the timestamp as an int first, and
    raises on anything else; this answers False instead."""
    if not timestamp.isascii() or not timestamp.isdigit():
        return False
    if abs(time.time() - int(timestamp)) > SIGNATURE_WINDOW_SECONDS:
        return False
    message = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def _read(environ: dict[str, Any]) -> bytes | None:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        return None
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return bytes(body)


def _malformed(body: bytes, content_type: str) -> str | None:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "the body is not UTF-8"
    if content_type.startswith("application/json"):
        return None if _json_object(text) else "the body is not a JSON object"
    fields = parse_qs(text, keep_blank_values=True)
    if "payload" in fields and not _json_object(fields["payload"][0]):
        return "the payload is not a JSON object"
    return None


def _json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), Mapping)
    except ValueError:
        return False
