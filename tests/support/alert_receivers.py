"""Local alert receivers for the tests: an SMTP server (aiosmtpd) and a webhook (HTTP), on
127.0.0.1 only. A test module using the fixtures `smtp_server` and `webhook` names them at its
top level (``webhook = alert_receivers.webhook``).
"""

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from radonc_assets.devtools.local_servers import LOOPBACK, free_ports

# The one login the SMTP server accepts when started with auth=True.
USER = "radonc-alerts"
PASSWORD = "s3cret-Pa55"


# --- SMTP ---------------------------------------------------------------------------------


@dataclass
class Mailbox:
    """An aiosmtpd handler keeping what it receives, and the logins it was offered."""

    envelopes: list[Envelope] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    # aiosmtpd calls its hooks handle_<COMMAND>.
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.envelopes.append(envelope)
        return "250 OK"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append((mechanism, login))
        # handled=False: aiosmtpd answers 535 itself.
        return AuthResult(success=(login, password) == (USER, PASSWORD), handled=False)

    def received(self) -> EmailMessage:
        (envelope,) = self.envelopes
        assert isinstance(envelope.original_content, bytes)
        parsed = message_from_bytes(envelope.original_content, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        return parsed


SmtpServer = Callable[..., tuple[int, Mailbox]]


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """Starts aiosmtpd servers on free loopback ports (options of its Controller)."""
    controllers: list[Controller] = []

    def start(**options: Any) -> tuple[int, Mailbox]:
        mailbox = Mailbox()
        (port,) = free_ports(1)
        if options.pop("auth", False):
            options = {
                "authenticator": mailbox.authenticate,
                "auth_required": True,
                "auth_require_tls": False,
            } | options
        controller = Controller(mailbox, hostname=LOOPBACK, port=port, **options)
        controller.start()
        controllers.append(controller)
        return port, mailbox

    yield start
    for controller in controllers:
        controller.stop()


# --- Webhook ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Webhook(ThreadingHTTPServer):
    """Keeps every POST and answers each with `status`."""

    def __init__(self) -> None:
        super().__init__((LOOPBACK, 0), _WebhookHandler)
        self.requests: list[Received] = []
        self.status = 204

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.server_address[1]}"


class _WebhookHandler(BaseHTTPRequestHandler):
    server: Webhook

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.requests.append(Received(self.path, dict(self.headers.items()), body))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: no line on stderr per request."""


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    server = Webhook()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
