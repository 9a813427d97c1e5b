"""Alert delivery against real local servers: aiosmtpd and an HTTP server on 127.0.0.1."""

import json
import shutil
import socket
import ssl
import subprocess
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from radonc_assets.devtools.local_servers import LOOPBACK, free_ports
from resources.alerts import (
    AlertDeliveryError,
    AlertMessage,
    SmtpSettings,
    post_webhook,
    redacted_url,
    send_email,
)
from tests.support import alert_receivers
from tests.support.alert_receivers import PASSWORD, USER, Mailbox, SmtpServer, Webhook

# The receivers' fixtures.
smtp_server = alert_receivers.smtp_server
webhook = alert_receivers.webhook

# AUTH without TLS is what the plain-SMTP login tests want, on loopback only.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

MESSAGE = AlertMessage(
    subject="Sauvegarde échouée: site Genève",
    text="La copie du patient Müller a échoué.\nRéessayer après 22 h.\n",
    payload={"site": "geneve", "status": "failure", "text": "copie échouée", "count": 3},
)


def settings(port: int, **options: Any) -> SmtpSettings:
    values: dict[str, Any] = {
        "host": LOOPBACK,
        "port": port,
        "sender": "radonc-backup@hospital.example",
        "recipients": ("physics@hospital.example", "it@hospital.example"),
        "timeout": 5.0,
    }
    return SmtpSettings(**(values | options))


def full_text(exc: BaseException) -> str:
    """The exception as a traceback shows it, chained causes included."""
    return "".join(traceback.format_exception(exc))


# --- SMTP ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1, made by the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed")
    folder = tmp_path_factory.mktemp("tls")
    made = Certificate(folder / "cert.pem", folder / "key.pem")
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-nodes", "-days", "1"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-subj", f"/CN={LOOPBACK}", "-addext", f"subjectAltName=IP:{LOOPBACK}"),
            *("-keyout", str(made.key), "-out", str(made.cert)),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return made


@pytest.fixture
def trusted(certificate: Certificate, monkeypatch: pytest.MonkeyPatch) -> Certificate:
    """The test certificate as the only trusted authority (OpenSSL reads SSL_CERT_FILE)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.cert))
    return certificate


def test_email_received_with_headers_and_non_ascii_body(smtp_server: SmtpServer) -> None:
    port, mailbox = smtp_server()

    send_email(settings(port), MESSAGE)

    (envelope,) = mailbox.envelopes
    assert envelope.mail_from == "radonc-backup@hospital.example"
    assert envelope.rcpt_tos == ["physics@hospital.example", "it@hospital.example"]
    received = mailbox.received()
    assert received["Subject"] == MESSAGE.subject
    assert received["From"] == "radonc-backup@hospital.example"
    assert received["To"] == "physics@hospital.example, it@hospital.example"
    assert received["Date"] is not None
    assert received["Message-ID"].endswith("@hospital.example>")
    assert received.get_content_type() == "text/plain"
    assert received.get_content_charset() == "utf-8"
    assert received.get_content().replace("\r\n", "\n") == MESSAGE.text
    assert mailbox.logins == []


def test_email_logs_in_when_the_server_requires_it(smtp_server: SmtpServer) -> None:
    port, mailbox = smtp_server(auth=True)

    send_email(settings(port, username=USER, password=PASSWORD), MESSAGE)

    assert [login for _, login in mailbox.logins] == [USER]
    assert mailbox.received()["Subject"] == MESSAGE.subject


def test_email_without_username_refused_by_a_server_requiring_auth(
    smtp_server: SmtpServer,
) -> None:
    port, mailbox = smtp_server(auth=True)

    with pytest.raises(AlertDeliveryError, match="530") as raised:
        send_email(settings(port), MESSAGE)

    assert f"{LOOPBACK}:{port}" in str(raised.value)
    assert mailbox.logins == []
    assert mailbox.envelopes == []


def test_email_wrong_password_never_shows_the_password(smtp_server: SmtpServer) -> None:
    port, mailbox = smtp_server(auth=True)
    wrong = "Wr0ng-" + PASSWORD

    with pytest.raises(AlertDeliveryError) as raised:
        send_email(settings(port, username=USER, password=wrong), MESSAGE)

    message = str(raised.value)
    assert f"{LOOPBACK}:{port}" in message
    assert "authentication failed" in message
    assert "535" in message
    assert "\n" not in message
    assert wrong not in full_text(raised.value)
    assert mailbox.envelopes == []


def test_email_recipient_refused(smtp_server: SmtpServer) -> None:
    class Refusing(Mailbox):
        async def handle_RCPT(  # noqa: N802
            self,
            server: SMTP,
            session: Session,
            envelope: Envelope,
            address: str,
            rcpt_options: list[str],
        ) -> str:
            if address.startswith("nobody@"):
                return "550 5.1.1 no such user"
            envelope.rcpt_tos.append(address)
            return "250 OK"

    mailbox = Refusing()
    (port,) = free_ports(1)
    controller = Controller(mailbox, hostname=LOOPBACK, port=port)
    controller.start()
    try:
        with pytest.raises(AlertDeliveryError, match=r"recipients refused: nobody@") as everyone:
            send_email(settings(port, recipients=("nobody@hospital.example",)), MESSAGE)
        with pytest.raises(AlertDeliveryError, match=r"delivered to the others") as one:
            send_email(
                settings(port, recipients=("physics@hospital.example", "nobody@hospital.example")),
                MESSAGE,
            )
    finally:
        controller.stop()

    assert "550 5.1.1 no such user" in str(everyone.value)
    assert "nobody@hospital.example (550 5.1.1 no such user)" in str(one.value)
    (envelope,) = mailbox.envelopes
    assert envelope.rcpt_tos == ["physics@hospital.example"]


def test_email_connection_refused_names_host_and_port() -> None:
    (nowhere,) = free_ports(1)

    with pytest.raises(AlertDeliveryError) as raised:
        send_email(settings(nowhere, username=USER, password=PASSWORD), MESSAGE)

    assert str(raised.value) == (
        f"cannot connect to SMTP server {LOOPBACK}:{nowhere}: connection refused"
    )
    assert PASSWORD not in full_text(raised.value)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.create_server((LOOPBACK, 0)) as listener:
        yield int(listener.getsockname()[1])


def test_email_timeout_when_the_server_never_greets(silent_port: int) -> None:
    with pytest.raises(AlertDeliveryError) as raised:
        send_email(settings(silent_port, timeout=0.3), MESSAGE)

    assert str(raised.value) == (
        f"cannot connect to SMTP server {LOOPBACK}:{silent_port}: no answer within 0.3 s"
    )


def test_email_starttls_with_login(smtp_server: SmtpServer, trusted: Certificate) -> None:
    # AUTH only after STARTTLS: aiosmtpd's default, and what a real relay does.
    port, mailbox = smtp_server(
        tls_context=trusted.server_context(),
        require_starttls=True,
        auth=True,
        auth_require_tls=True,
    )

    send_email(settings(port, security="starttls", username=USER, password=PASSWORD), MESSAGE)

    assert [login for _, login in mailbox.logins] == [USER]
    assert mailbox.received().get_content().replace("\r\n", "\n") == MESSAGE.text


def test_email_ssl(smtp_server: SmtpServer, trusted: Certificate) -> None:
    port, mailbox = smtp_server(ssl_context=trusted.server_context())

    send_email(settings(port, security="ssl"), MESSAGE)

    assert mailbox.received()["Subject"] == MESSAGE.subject


def test_email_starttls_refuses_an_untrusted_certificate(
    smtp_server: SmtpServer, certificate: Certificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    port, mailbox = smtp_server(tls_context=certificate.server_context(), require_starttls=True)

    with pytest.raises(AlertDeliveryError, match="TLS certificate not trusted") as raised:
        send_email(settings(port, security="starttls"), MESSAGE)

    assert f"{LOOPBACK}:{port}" in str(raised.value)
    assert mailbox.envelopes == []


def test_email_starttls_not_offered(smtp_server: SmtpServer) -> None:
    port, _ = smtp_server()

    with pytest.raises(AlertDeliveryError, match="STARTTLS"):
        send_email(settings(port, security="starttls"), MESSAGE)


def test_smtp_settings_hide_the_password_and_check_values() -> None:
    configured = settings(25, username=USER, password=PASSWORD)

    assert PASSWORD not in repr(configured)
    assert PASSWORD not in str(configured)
    with pytest.raises(ValueError, match="unknown SMTP security"):
        settings(25, security="tls")
    with pytest.raises(ValueError, match="non-empty tuple"):
        settings(25, recipients="physics@hospital.example")
    with pytest.raises(ValueError, match="non-empty tuple"):
        replace(configured, recipients=())
    with pytest.raises(ValueError, match="needs a username"):
        replace(configured, username=None)
    with pytest.raises(ValueError, match="positive"):
        replace(configured, timeout=0)


# --- Webhook ------------------------------------------------------------------------------


def test_webhook_receives_json_with_bearer_token(webhook: Webhook) -> None:
    post_webhook(f"{webhook.url}/hooks/alerts", MESSAGE, timeout=5.0, token="tok-123")

    (received,) = webhook.requests
    assert received.path == "/hooks/alerts"
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers["Authorization"] == "Bearer tok-123"
    assert received.headers["User-Agent"].startswith("radonc-backup")
    assert json.loads(received.body) == MESSAGE.payload


def test_webhook_without_token_sends_no_authorization(webhook: Webhook) -> None:
    post_webhook(webhook.url, MESSAGE, timeout=5.0)

    (received,) = webhook.requests
    assert "Authorization" not in received.headers


def test_webhook_token_wins_over_url_credentials(webhook: Webhook) -> None:
    url = webhook.url.replace("://", "://user:pass@")

    post_webhook(url, MESSAGE, timeout=5.0, token="tok-123")

    (received,) = webhook.requests
    assert received.headers["Authorization"] == "Bearer tok-123"


@pytest.mark.parametrize("status", [500, 404, 302])
def test_webhook_non_2xx_raises_with_status(webhook: Webhook, status: int) -> None:
    webhook.status = status

    with pytest.raises(AlertDeliveryError, match=rf"answered {status}\b") as raised:
        post_webhook(f"{webhook.url}/hook", MESSAGE, timeout=5.0)

    assert f"webhook {webhook.url}/hook answered" in str(raised.value)
    assert len(webhook.requests) == 1


def test_webhook_closed_port_raises_with_cause() -> None:
    (nowhere,) = free_ports(1)

    with pytest.raises(AlertDeliveryError) as raised:
        post_webhook(f"http://{LOOPBACK}:{nowhere}/hook", MESSAGE, timeout=5.0)

    assert str(raised.value) == (
        f"cannot reach webhook http://{LOOPBACK}:{nowhere}/hook: connection refused"
    )


def test_webhook_timeout(silent_port: int) -> None:
    with pytest.raises(AlertDeliveryError) as raised:
        post_webhook(f"http://{LOOPBACK}:{silent_port}/hook", MESSAGE, timeout=0.3)

    assert str(raised.value) == (
        f"webhook http://{LOOPBACK}:{silent_port}/hook did not answer within 0.3 s"
    )


SECRETS = ("alice", "pa55word", "qu3ry-secret", "fr4gment", "b3arer-secret")
SECRET_URL = "http://alice:pa55word@{address}/hook?token=qu3ry-secret#fr4gment"


@pytest.mark.parametrize("failure", ["status", "closed", "timeout"])
def test_webhook_errors_never_echo_url_secrets(
    failure: str, webhook: Webhook, silent_port: int
) -> None:
    webhook.status = 500
    port = {
        "status": webhook.server_address[1],
        "closed": free_ports(1)[0],
        "timeout": silent_port,
    }[failure]
    url = SECRET_URL.format(address=f"{LOOPBACK}:{port}")

    with pytest.raises(AlertDeliveryError) as raised:
        post_webhook(url, MESSAGE, timeout=0.5, token=SECRETS[-1])

    text = full_text(raised.value)
    assert f"http://{LOOPBACK}:{port}/hook" in str(raised.value)
    for secret in SECRETS:
        assert secret not in text


def test_redacted_url() -> None:
    assert redacted_url("https://u:p@hooks.example:8443/a/b?token=x#y") == (
        "https://hooks.example:8443/a/b"
    )
    assert redacted_url("http://[::1]:8080/hook") == "http://[::1]:8080/hook"
