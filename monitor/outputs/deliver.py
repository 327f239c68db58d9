"""Getting digests and alerts out: files on disk, SMTP e-mail, JSON webhooks.

Each sender makes ONE attempt and turns every failure into a DeliveryError in words that a
person can act on ("SMTP server mail.example.org:587 rejected the login (535 ...)"), marked
retryable or not: a refused password will not get better by trying again, a timeout may.
`with_retries` adds the backoff for digests; alerts keep their retry schedule in the store.

Secrets stay secret: SMTP credentials and webhook URLs are read from the environment variables
feeds.yaml names, and messages name the variable or the host, never a value or a URL's path
(a Slack webhook's path is its token).
"""

from __future__ import annotations

import os
import smtplib
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from monitor.config.digests import EmailOutput, WebhookOutput
from monitor.core.http import USER_AGENT, parse_retry_after
from monitor.core.text import sanitize

__all__ = [
    "DeliveryError",
    "build_email",
    "post_webhook",
    "send_email",
    "slack_escape",
    "slack_link",
    "webhook_where",
    "with_retries",
    "write_atomic",
]

T = TypeVar("T")
MAX_RETRY_WAIT = 300.0
SERVER_TEXT_CHARS = 200


class DeliveryError(Exception):
    """A delivery that failed, in words. `retryable`: a later attempt may succeed."""

    def __init__(self, message: str, *, retryable: bool = True, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.message


# --- files ----------------------------------------------------------------------------------


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename over it.

    A reader (or a mail job attaching the file) sees the old file or the new one, never half of
    either, and a crash mid-write leaves the previous digest in place.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- retries --------------------------------------------------------------------------------


class Interrupted(DeliveryError):
    """The process is stopping: the delivery is left undone, to be made at the next start."""

    def __init__(self) -> None:
        super().__init__(
            "not delivered: the collector stopped; it is sent at the next start", retryable=False
        )


def with_retries(
    action: Callable[[], T],
    *,
    attempts: int = 4,
    first_delay: float = 5.0,
    factor: float = 4.0,
    sleep: Callable[[float], None] = time.sleep,
    stop: threading.Event | None = None,
) -> tuple[T, int]:
    """Run `action` until it succeeds, fails permanently or runs out of attempts.

    Returns (result, attempts used). Waits first_delay, then ×factor each time (and at least what
    a server's Retry-After asked, up to 5 min). The final DeliveryError says how many attempts
    were made and why it stopped.

    With `stop`, setting it ends the retries at once (Interrupted): the waits watch it, and each
    attempt runs on a daemon thread this one stops waiting for, since an SMTP server that never
    answers holds a connect for the whole timeout and a shutdown must not wait for that. (Should
    that abandoned attempt still get through before the process ends, the next start sends it
    again: a digest may arrive twice, never not at all.)
    """
    delay = first_delay
    for attempt in range(1, attempts + 1):
        if stop is not None and stop.is_set():
            raise Interrupted()
        try:
            return (action() if stop is None else _unless_stopped(action, stop)), attempt
        except Interrupted:
            raise
        except DeliveryError as exc:
            if not exc.retryable:
                raise DeliveryError(
                    f"{exc.message} (not retried: trying again would not help)", retryable=False
                ) from None
            if attempt == attempts:
                raise DeliveryError(f"{exc.message} (gave up after {attempts} attempts)") from None
            wait = min(max(delay, exc.retry_after or 0.0), MAX_RETRY_WAIT)
            if stop is None:
                sleep(wait)
            elif stop.wait(wait):
                raise Interrupted() from None
            delay *= factor
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _unless_stopped(action: Callable[[], T], stop: threading.Event) -> T:
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = action()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            box["error"] = exc

    worker = threading.Thread(target=run, name="delivery", daemon=True)
    worker.start()
    while worker.is_alive():
        if stop.wait(0.1) and worker.is_alive():
            raise Interrupted()
    if "error" in box:
        raise box["error"]
    return box["result"]


# --- webhooks -------------------------------------------------------------------------------


def webhook_where(url: str) -> str:
    """'webhook at hooks.slack.com': the host only, since the path of a webhook URL is its secret."""
    parts = urlsplit(url)
    return (
        f"webhook at {parts.hostname or 'an unknown host'}{f':{parts.port}' if parts.port else ''}"
    )


def _webhook_url(webhook: WebhookOutput, env: Mapping[str, str]) -> str:
    if webhook.url is not None:
        return str(webhook.url)
    url = env.get(webhook.url_env or "", "").strip()
    if not url:
        raise DeliveryError(
            f"environment variable {webhook.url_env} (webhook.url_env) is not set", retryable=False
        )
    if urlsplit(url).scheme not in ("http", "https"):
        raise DeliveryError(
            f"environment variable {webhook.url_env} does not hold an http(s) URL", retryable=False
        )
    return url


def post_webhook(
    webhook: WebhookOutput, payload: dict[str, Any], env: Mapping[str, str] = os.environ
) -> None:
    """POST `payload` as JSON; any 2xx is success. 429 and 5xx are worth retrying, other 4xx not."""
    url = _webhook_url(webhook, env)
    where = webhook_where(url)
    timeout = webhook.timeout.total_seconds()
    try:
        with httpx.Client(
            timeout=timeout, headers={"User-Agent": USER_AGENT}, follow_redirects=False
        ) as client:
            resp = client.post(url, json=payload)
    except httpx.TimeoutException:
        raise DeliveryError(f"{where} did not answer within {timeout:g}s") from None
    except httpx.HTTPError as exc:
        reason = str(exc).replace(url, where) or type(exc).__name__
        raise DeliveryError(f"could not reach the {where}: {reason}") from None
    if 200 <= resp.status_code < 300:
        return
    said = sanitize(resp.text[:SERVER_TEXT_CHARS]).strip()
    retryable = resp.status_code in (408, 425, 429) or resp.status_code >= 500
    message = f"{where} answered {resp.status_code} {resp.reason_phrase}".rstrip()
    raise DeliveryError(
        message + (f": {said}" if said else ""),
        retryable=retryable,
        retry_after=parse_retry_after(resp.headers.get("Retry-After")),
    )


def slack_escape(text: str) -> str:
    """The three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_link(url: str, label: str) -> str:
    """`<url|label>` with what would break out of it encoded."""
    safe = url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C").replace(" ", "%20")
    return f"<{safe}|{slack_escape(label)}>"


# --- e-mail ---------------------------------------------------------------------------------


def build_email(
    *,
    sender: str,
    to: Sequence[str],
    subject: str,
    text: str,
    html: str,
    images: Sequence[tuple[str, bytes, str]] = (),
) -> EmailMessage:
    """multipart/alternative: the plain text first, then the HTML with its PNG charts as related
    parts (`cid:` references), so a client that blocks images still shows alt text and tables."""
    msg = EmailMessage()
    msg["Subject"] = " ".join(subject.split())
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="reaction-monitor")
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    *_, html_part = msg.iter_parts()
    for cid, data, _alt in images:
        html_part.add_related(
            data,
            maintype="image",
            subtype="png",
            cid=f"<{cid}>",
            filename=f"{cid.split('@', 1)[0]}.png",
        )
    return msg


def _credentials(email: EmailOutput, env: Mapping[str, str]) -> tuple[str, str] | None:
    if email.user_env is None or email.password_env is None:
        return None
    values = []
    for field, name in (("user_env", email.user_env), ("password_env", email.password_env)):
        value = env.get(name, "")
        if not value:
            raise DeliveryError(
                f"environment variable {name} (email.{field}) is not set", retryable=False
            )
        values.append(value)
    return values[0], values[1]


def send_email(email: EmailOutput, msg: EmailMessage, env: Mapping[str, str] = os.environ) -> None:
    """One SMTP session: connect (TLS or STARTTLS as configured), log in if configured, send."""
    login = _credentials(email, env)
    host, port = email.host, email.smtp_port
    where = f"SMTP server {host}:{port}"
    timeout = email.timeout.total_seconds()
    context = ssl.create_default_context()
    try:
        smtp = (
            smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
            if email.security == "tls"
            else smtplib.SMTP(host, port, timeout=timeout)
        )
        with smtp:
            smtp.ehlo()
            if email.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if login is not None:
                smtp.login(*login)
            refused = smtp.send_message(msg)
    except smtplib.SMTPNotSupportedError:
        raise DeliveryError(
            f"{where} does not offer STARTTLS; set `security: tls` (port 465) or, for a relay on "
            "this machine, `security: none`",
            retryable=False,
        ) from None
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(
            f"{where} rejected the login of the user in {email.user_env} "
            f"({exc.smtp_code} {_said(exc.smtp_error)})",
            retryable=False,
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(
            f"{where} refused every recipient: {_refusals(exc.recipients)}", retryable=False
        ) from None
    except smtplib.SMTPResponseException as exc:
        temporary = 400 <= exc.smtp_code < 500
        raise DeliveryError(
            f"{where} answered {exc.smtp_code} {_said(exc.smtp_error)}"
            f"{' (a temporary failure)' if temporary else ''}",
            retryable=temporary,
        ) from None
    except ssl.SSLError as exc:
        raise DeliveryError(
            f"TLS with {where} failed: {exc.reason or exc}", retryable=False
        ) from None
    except (OSError, smtplib.SMTPException) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise DeliveryError(f"could not talk to the {where}: {reason}") from None
    if refused:
        raise DeliveryError(
            f"{where} accepted the message for some recipients but refused {_refusals(refused)}",
            retryable=False,
        )


def _said(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return sanitize(" ".join(text.split()))[:SERVER_TEXT_CHARS]


def _refusals(recipients: Mapping[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{addr} ({code} {_said(why)})" for addr, (code, why) in recipients.items())
