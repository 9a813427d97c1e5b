"""Failure alerts delivered by e-mail (SMTP) and by a JSON POST to a webhook.

Both transports raise :class:`AlertDeliveryError` with a one-line message naming
the server (``host:port`` or the webhook URL) and the cause. Secrets never reach a
message, a log line or a repr: the SMTP password and the bearer token are not
shown, and a webhook URL is shown without its credentials, query string and
fragment (a query may carry a token).
"""

import json
import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.auth import AuthBase

LOGGER = logging.getLogger(__name__)

SmtpSecurity = Literal["none", "starttls", "ssl"]
SMTP_SECURITY: tuple[SmtpSecurity, ...] = ("none", "starttls", "ssl")
USER_AGENT = "radonc-backup alerts"
# Where the errors under a requests exception come from when they hold no URL.
_STDLIB_ERROR_MODULES = frozenset({"builtins", "socket", "ssl", "http.client"})


class AlertDeliveryError(Exception):
    """An alert could not be delivered (unreachable server, refusal, timeout)."""


@dataclass(frozen=True)
class AlertMessage:
    """One alert, as both transports send it.

    Attributes:
        subject: The e-mail subject.
        text: The plain-text e-mail body.
        payload: The JSON object the webhook receives.
    """

    subject: str
    text: str
    payload: dict[str, object]


@dataclass(frozen=True, kw_only=True)
class SmtpSettings:
    """An SMTP server and the addresses of the alert e-mail.

    Attributes:
        host: The SMTP server.
        port: Its port (25, 587 for STARTTLS, 465 for SSL).
        security: ``none`` (plain SMTP), ``starttls`` (upgraded after EHLO) or
            ``ssl`` (TLS from the first byte); certificates are verified against
            the system's trusted authorities.
        username: The login; no AUTH when None.
        password: The login's password; never logged nor shown.
        sender: The From address.
        recipients: The To addresses.
        timeout: Seconds for connecting and for each answer of the server.
    """

    host: str
    port: int = 25
    security: SmtpSecurity = "none"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str
    recipients: tuple[str, ...]
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.security not in SMTP_SECURITY:
            raise ValueError(
                f"unknown SMTP security {self.security!r}, expected one of {SMTP_SECURITY}"
            )
        if isinstance(self.recipients, str) or not self.recipients:
            raise ValueError("recipients must be a non-empty tuple of addresses")
        if self.password is not None and self.username is None:
            raise ValueError("an SMTP password needs a username")
        if self.timeout <= 0:
            raise ValueError(f"the SMTP timeout must be positive, not {self.timeout}")

    @property
    def address(self) -> str:
        """``host:port`` of the server, as messages name it."""
        return f"{self.host}:{self.port}"


def email_message(settings: SmtpSettings, message: AlertMessage) -> EmailMessage:
    """The e-mail of an alert: Subject, From, To, Date, Message-ID and a UTF-8 text body.

    The body is quoted-printable, so it passes relays that do not accept 8-bit
    data. The Message-ID takes the sender's domain (no DNS look-up of this host).
    """
    email = EmailMessage()
    email["Subject"] = message.subject
    email["From"] = settings.sender
    email["To"] = ", ".join(settings.recipients)
    email["Date"] = formatdate(localtime=True)
    domain = parseaddr(settings.sender)[1].rpartition("@")[2]
    email["Message-ID"] = make_msgid(domain=domain or "radonc-backup.invalid")
    email.set_content(message.text, charset="utf-8", cte="quoted-printable")
    return email


def send_email(settings: SmtpSettings, message: AlertMessage) -> None:
    """Send an alert by e-mail to every recipient.

    Connects with `security` (plain, STARTTLS with the default SSL context, or
    SMTP over TLS), logs in when a username is set and sends one message; the
    connection, each command and each answer are bounded by ``settings.timeout``.

    Args:
        settings: The server and the addresses.
        message: The alert.

    Raises:
        AlertDeliveryError: No connection, a TLS failure, a refused login, sender
            or recipient (also when only some recipients are refused: the others
            got the message), a timeout; the message names ``host:port`` and the
            cause, never the password.
    """
    email = email_message(settings, message)
    try:
        smtp = _connect(settings)
    except (smtplib.SMTPException, OSError) as exc:
        raise AlertDeliveryError(
            f"cannot connect to SMTP server {settings.address}: {_smtp_cause(exc, settings)}"
        ) from exc
    try:
        if settings.security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if settings.username is not None:
            smtp.login(settings.username, settings.password or "")
        refused = smtp.send_message(email)
    except (smtplib.SMTPException, OSError) as exc:
        raise AlertDeliveryError(
            f"SMTP server {settings.address} did not take the alert: {_smtp_cause(exc, settings)}"
        ) from exc
    finally:
        _quit(smtp)
    if refused:
        raise AlertDeliveryError(
            f"SMTP server {settings.address} refused recipients {_refusals(refused)}"
            f" (delivered to the others)"
        )
    LOGGER.info(
        "Alert e-mail %r sent to %s through %s",
        message.subject,
        ", ".join(settings.recipients),
        settings.address,
    )


def post_webhook(url: str, message: AlertMessage, timeout: float, token: str | None = None) -> None:
    """POST an alert's payload as JSON to a webhook.

    Redirects are not followed (a 3xx answer is a failure), and the proxy
    settings of the environment apply.

    Args:
        url: The webhook's URL.
        message: The alert; its `payload` is the body.
        timeout: Seconds for connecting and for the answer.
        token: Sent as ``Authorization: Bearer <token>`` when given.

    Raises:
        AlertDeliveryError: A non-2xx answer, a timeout or no connection; the
            message names the URL without credentials, query or fragment, and
            the status or cause, never the token.
        TypeError: The payload is not JSON-serialisable (a programming error).
        ValueError: The payload holds NaN or an infinity (not JSON).
    """
    shown = redacted_url(url)
    body = json.dumps(message.payload, allow_nan=False).encode("ascii")
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    try:
        response = requests.post(
            url,
            data=body,
            headers=headers,
            auth=_BearerAuth(token) if token is not None else None,
            timeout=timeout,
            allow_redirects=False,
        )
    # The exceptions of requests quote the full URL (query and credentials): they are
    # neither shown nor chained.
    except requests.Timeout:
        raise AlertDeliveryError(f"webhook {shown} did not answer within {timeout:g} s") from None
    except requests.ConnectionError as exc:
        raise AlertDeliveryError(f"cannot reach webhook {shown}: {_network_cause(exc)}") from None
    except requests.RequestException as exc:
        raise AlertDeliveryError(f"cannot post to webhook {shown}: {type(exc).__name__}") from None
    if not 200 <= response.status_code < 300:
        raise AlertDeliveryError(
            f"webhook {shown} answered {response.status_code} {response.reason or ''}".rstrip()
        )
    LOGGER.info("Alert %r posted to %s (%s)", message.subject, shown, response.status_code)


def redacted_url(url: str) -> str:
    """`url` without user, password, query string and fragment, for messages and logs."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class _BearerAuth(AuthBase):
    """``Authorization: Bearer <token>``.

    Given as `auth`, it also keeps requests from putting the URL's user and password
    or a ``.netrc`` login in place of the token.
    """

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    if settings.security == "ssl":
        return smtplib.SMTP_SSL(
            settings.host,
            settings.port,
            timeout=settings.timeout,
            context=ssl.create_default_context(),
        )
    return smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)


def _quit(smtp: smtplib.SMTP) -> None:
    """End the session; a failing QUIT after the message was sent changes nothing."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError) as exc:
        LOGGER.debug("QUIT failed, connection closed: %s", exc)
        smtp.close()


def _smtp_cause(exc: BaseException, settings: SmtpSettings) -> str:
    """One line saying why an SMTP exchange failed (from smtplib's exceptions)."""
    match exc:
        case smtplib.SMTPAuthenticationError():
            return f"authentication failed for {settings.username} ({_reply(exc.smtp_code, exc.smtp_error)})"
        case smtplib.SMTPRecipientsRefused():
            return f"recipients refused: {_refusals(exc.recipients)}"
        case smtplib.SMTPSenderRefused():
            return f"sender {settings.sender} refused ({_reply(exc.smtp_code, exc.smtp_error)})"
        case smtplib.SMTPResponseException():
            return f"server answered {_reply(exc.smtp_code, exc.smtp_error)}"
        case smtplib.SMTPNotSupportedError():
            return _one_line(str(exc)).rstrip(".")
        case smtplib.SMTPServerDisconnected() if isinstance(exc.__context__, OSError):
            return _smtp_cause(exc.__context__, settings)
        case smtplib.SMTPServerDisconnected():
            return "the server closed the connection"
        case ssl.SSLError():
            return _tls_cause(exc)
        case TimeoutError():
            return f"no answer within {settings.timeout:g} s"
        case OSError() if exc.strerror:
            return exc.strerror.lower()
    return _one_line(str(exc)) or type(exc).__name__


def _tls_cause(exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {_one_line(exc.verify_message or str(exc))}"
    return f"TLS failed: {_one_line(exc.reason or str(exc))}"


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return _one_line(f"{code} {text}")


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{address} ({_reply(*reply)})" for address, reply in refused.items())


def _network_cause(exc: BaseException) -> str:
    """The socket or TLS error under a requests exception, whose own text quotes the URL.

    requests wraps urllib3's exceptions in `args` and `reason`, those wrap the
    socket's error as their cause; the standard library's errors (``ssl``, ``socket``,
    builtins) never hold the URL.
    """
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and type(current).__module__ in _STDLIB_ERROR_MODULES:
            if isinstance(current, ssl.SSLError):
                return _tls_cause(current)
            return (current.strerror or str(current)).lower() or type(current).__name__
        linked = [*current.args, getattr(current, "reason", None)]
        linked += [current.__cause__, current.__context__]
        pending.extend(item for item in linked if isinstance(item, BaseException))
    return type(exc).__name__


def _one_line(text: str) -> str:
    return " ".join(text.split())
