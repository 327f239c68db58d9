"""Delivery against real local servers: aiosmtpd for e-mail (plain, STARTTLS, TLS, login), an HTTP
server for webhooks; failures in words, retries with backoff, and the digest file never lost."""

from __future__ import annotations

import email
import email.policy
import ipaddress
import json
import os
import socket
import ssl
import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from digest_support import EPOCH, Hook, play, post, write_config

from monitor.outputs.deliver import DeliveryError, with_retries, write_atomic
from monitor.outputs.digest.jobs import digest_runs, run_digest
from monitor.store.db import Store

DAY = date(2026, 3, 16)
NOW = datetime(2026, 3, 17, 8, 0, tzinfo=UTC)


class Inbox:
    """aiosmtpd handler: keeps every message it accepts."""

    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def message(self, i: int = -1) -> email.message.EmailMessage:
        return email.message_from_bytes(self.envelopes[i].content, policy=email.policy.default)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def smtp_server(inbox: Inbox, **kwargs) -> Controller:
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    return controller


def login_checker(user: str, password: str):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False)

    return check


@pytest.fixture
def cert(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, trusted by the client through SSL_CERT_FILE."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_path))
    return cert_path, key_path


def server_context(cert: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*cert)
    return ctx


def digest_store(tmp_path: Path, outputs: str) -> tuple:
    block = textwrap.indent(textwrap.dedent(outputs), "    ")
    config = write_config(tmp_path, "digests:\n  - name: morning\n    timezone: UTC\n" + block)
    store = Store(f"sqlite:///{tmp_path}/monitor.db")
    at = EPOCH + timedelta(hours=14)
    play(
        store,
        config,
        [
            post(i, text, at + timedelta(minutes=i))
            for i, text in enumerate(
                [
                    "Trump and Putin: a wonderful, hopeful deal!",
                    "Trump deal is a shameful disgrace",
                    "Putin talks continue <b>today</b> & more: great, lovely",
                    "Dmitriev: great progress, excellent",
                    "Trump: no comment",
                    "Putin: awful, terrible idea",
                ]
            )
        ],
        start=at,
        until=at + timedelta(hours=1),
    )
    return config, store


def send(config, store, **kw):
    kw.setdefault("sleep", lambda s: None)
    return run_digest(
        config,
        store,
        config.digest("morning"),
        DAY,
        send=True,
        now=NOW,
        env=kw.pop("env", {}),
        **kw,
    )


def outputs(report) -> dict[str, tuple[str, str]]:
    return {o.output: (o.status, o.detail) for o in report.outputs}


# --- e-mail -------------------------------------------------------------------------------


def test_email_has_a_text_part_an_html_part_and_its_images(tmp_path):
    inbox = Inbox()
    server = smtp_server(inbox)
    try:
        config, store = digest_store(
            tmp_path,
            f"""\
                email:
                  host: 127.0.0.1
                  port: {server.port}
                  security: none
                  from: "Reaction Monitor <monitor@example.org>"
                  to: [ana@example.org, ben@example.org]
            """,
        )
        report = send(config, store)
        assert outputs(report)["email"] == ("ok", "e-mailed to 2 recipient(s) via 127.0.0.1")
        (envelope,) = inbox.envelopes
        assert envelope.rcpt_tos == ["ana@example.org", "ben@example.org"]
        msg = inbox.message()
        assert (
            msg["From"] == "Reaction Monitor <monitor@example.org>"
            and msg["Auto-Submitted"] == "auto-generated"
        )
        assert msg["Subject"].startswith("US–Russia business thaw on 2026-03-16: 6 posts")
        assert msg.get_content_type() == "multipart/alternative"
        text = msg.get_body(preferencelist=("plain",))
        html_part = msg.get_body(preferencelist=("html",))
        assert "**Volume:** 6 posts" in text.get_content()
        assert "&lt;b&gt;today&lt;/b&gt; &amp; more" in html_part.get_content()  # the post, escaped
        related = next(p for p in msg.iter_parts() if p.get_content_type() == "multipart/related")
        images = [p for p in related.iter_parts() if p.get_content_maintype() == "image"]
        assert [p.get_content_type() for p in images] == ["image/png", "image/png"]
        for image in images:
            cid = image["Content-ID"].strip("<>")
            assert f'src="cid:{cid}"' in html_part.get_content()
            assert image.get_content().startswith(b"\x89PNG\r\n\x1a\n")
        assert 'alt="Posts per hour' in html_part.get_content()

        again = send(config, store)
        assert outputs(again)["email"][0] == "skipped" and "--resend" in outputs(again)["email"][1]
        assert len(inbox.envelopes) == 1  # a re-run never sends twice
        assert outputs(send(config, store, resend=True))["email"][0] == "ok"
        assert len(inbox.envelopes) == 2
    finally:
        server.stop()
    (row,) = [r for r in digest_runs(store) if r["output"] == "email"]
    assert row["status"] == "ok" and row["attempts"] == 2 and row["sent_at"] == NOW
    store.close()


def test_starttls_with_login(tmp_path, cert):
    inbox = Inbox()
    server = smtp_server(
        inbox,
        tls_context=server_context(cert),
        require_starttls=True,
        authenticator=login_checker("monitor", "s3cret-pass"),
    )
    try:
        config, store = digest_store(
            tmp_path,
            f"""\
                email:
                  host: 127.0.0.1
                  port: {server.port}
                  security: starttls
                  user_env: SMTP_USER
                  password_env: SMTP_PASSWORD
                  from: monitor@example.org
                  to: [ana@example.org]
            """,
        )
        good = send(config, store, env={"SMTP_USER": "monitor", "SMTP_PASSWORD": "s3cret-pass"})
        assert outputs(good)["email"][0] == "ok" and len(inbox.envelopes) == 1

        attempts: list[float] = []
        bad = send(
            config,
            store,
            resend=True,
            env={"SMTP_USER": "monitor", "SMTP_PASSWORD": "wrong-pass"},
            sleep=attempts.append,
        )
        status, detail = outputs(bad)["email"]
        assert status == "failed" and attempts == []  # a refused login is not retried
        assert detail.startswith(
            f"SMTP server 127.0.0.1:{server.port} rejected the login of the user in SMTP_USER (535"
        )
        assert "wrong-pass" not in detail and "not retried" in detail

        missing = send(config, store, resend=True, env={"SMTP_USER": "monitor"})
        assert outputs(missing)["email"][1].startswith(
            "environment variable SMTP_PASSWORD (email.password_env) is not set"
        )
    finally:
        server.stop()
    assert all("wrong-pass" not in json.dumps(r, default=str) for r in digest_runs(store))
    store.close()


def test_implicit_tls(tmp_path, cert):
    inbox = Inbox()
    server = smtp_server(inbox, ssl_context=server_context(cert))
    try:
        config, store = digest_store(
            tmp_path,
            f"""\
                email: {{host: 127.0.0.1, port: {server.port}, security: tls, from: m@example.org, to: [a@example.org]}}
            """,
        )
        assert outputs(send(config, store))["email"][0] == "ok"
        assert inbox.message().get_body(preferencelist=("html",)) is not None
    finally:
        server.stop()
    store.close()


def test_a_down_smtp_server_is_retried_with_backoff_and_the_files_are_kept(tmp_path):
    port = free_port()  # nothing listens here
    config, store = digest_store(
        tmp_path,
        f"""\
            email: {{host: 127.0.0.1, port: {port}, security: none, from: m@example.org, to: [a@example.org]}}
        """,
    )
    waits: list[float] = []
    report = send(config, store, sleep=waits.append)
    status, detail = outputs(report)["email"]
    assert status == "failed" and waits == [5.0, 20.0, 80.0]
    assert detail.startswith(f"could not talk to the SMTP server 127.0.0.1:{port}: ")
    assert detail.endswith("(gave up after 4 attempts)")
    assert all(p.exists() for p in report.files) and len(report.files) == 3
    (row,) = [r for r in digest_runs(store) if r["output"] == "email"]
    assert row["status"] == "failed" and row["error"] == detail

    # The next run of that day tries again (it was never sent) and succeeds once the server is up.
    inbox = Inbox()
    server = Controller(inbox, hostname="127.0.0.1", port=port)
    server.start()
    try:
        assert outputs(send(config, store))["email"][0] == "ok" and len(inbox.envelopes) == 1
    finally:
        server.stop()
    store.close()


# --- webhooks -----------------------------------------------------------------------------


def test_json_webhook_carries_every_number(tmp_path):
    with Hook() as hook:
        config, store = digest_store(
            tmp_path,
            f"""\
                webhook: {{url: "{hook.url}", format: json}}
            """,
        )
        assert outputs(send(config, store))["webhook"] == ("ok", "posted to the webhook (json)")
        (payload,) = hook.received
    assert (
        payload["type"] == "digest"
        and payload["digest"] == "morning"
        and payload["date"] == "2026-03-16"
    )
    (topic,) = payload["topics"]
    assert (
        topic["volume"]["total"] == 6 and len(topic["hours"]) == 24 and topic["sentiment"]["n"] == 6
    )
    saved = json.loads(
        (tmp_path / "storage" / "digests" / "morning" / "2026-03-16" / "thaw.json").read_text()
    )
    assert saved == {k: v for k, v in topic.items()}
    store.close()


def test_slack_webhook_after_a_rate_limit(tmp_path):
    with Hook(statuses=[429, 200]) as hook:
        config, store = digest_store(
            tmp_path,
            """\
                webhook: {url_env: SLACK_WEBHOOK, format: slack}
            """,
        )
        waits: list[float] = []
        report = send(config, store, env={"SLACK_WEBHOOK": hook.url}, sleep=waits.append)
        assert outputs(report)["webhook"][0] == "ok" and waits == [5.0]
        (payload,) = hook.received
    assert payload["text"].startswith("US–Russia business thaw on 2026-03-16: 6 posts")
    assert payload["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Digest morning: 2026-03-16"},
    }
    assert "*US–Russia business thaw*: 6 posts" in payload["blocks"][1]["text"]["text"]
    (row,) = [r for r in digest_runs(store) if r["output"] == "webhook"]
    assert row["attempts"] == 2 and row["status"] == "ok"
    store.close()


def test_webhook_failures_are_in_words_and_never_show_the_secret_url(tmp_path):
    with Hook(statuses=[404]) as hook:
        config, store = digest_store(
            tmp_path,
            """\
                webhook: {url_env: SLACK_WEBHOOK, format: slack}
            """,
        )
        waits: list[float] = []
        status, detail = outputs(
            send(config, store, env={"SLACK_WEBHOOK": hook.url}, sleep=waits.append)
        )["webhook"]
        assert status == "failed" and waits == []
        port = hook.server.server_address[1]
        assert detail.startswith(
            f"webhook at 127.0.0.1:{port} answered 404 Not Found: upstream exploded"
        )
        assert "SECRET-TOKEN" not in detail and "\x1b" not in detail
    status, detail = outputs(send(config, store, env={}))["webhook"]
    assert status == "failed" and detail.startswith(
        "environment variable SLACK_WEBHOOK (webhook.url_env) is not set"
    )
    status, detail = outputs(
        send(config, store, env={"SLACK_WEBHOOK": f"http://127.0.0.1:{free_port()}/T/SECRET"})
    )["webhook"]
    assert (
        status == "failed"
        and "could not reach the webhook at 127.0.0.1" in detail
        and "SECRET" not in detail
    )
    store.close()


# --- the pieces ---------------------------------------------------------------------------


def test_write_atomic_keeps_the_old_file_when_the_new_one_cannot_be_written(tmp_path, monkeypatch):
    path = tmp_path / "d" / "thaw.md"
    write_atomic(path, b"first")
    real_replace = os.replace

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        write_atomic(path, b"second")
    monkeypatch.setattr(os, "replace", real_replace)
    assert path.read_bytes() == b"first" and [p.name for p in path.parent.iterdir()] == ["thaw.md"]
    write_atomic(path, b"second")
    assert path.read_bytes() == b"second"


def test_with_retries_waits_longer_each_time_and_honours_retry_after():
    calls, waits = [], []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise DeliveryError("busy", retry_after=60)
        if len(calls) < 3:
            raise DeliveryError("timeout")
        return "done"

    assert with_retries(flaky, sleep=waits.append) == ("done", 3)
    assert waits == [60.0, 20.0]
    with pytest.raises(DeliveryError, match=r"^nope \(not retried"):
        with_retries(
            lambda: (_ for _ in ()).throw(DeliveryError("nope", retryable=False)),
            sleep=waits.append,
        )
