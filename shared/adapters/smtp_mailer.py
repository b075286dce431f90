"""Send e-mail through an SMTP relay (the local stack's capturing server, or a real relay in production)."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from shared.domain.mail import OutgoingMail

_TIMEOUT_S = 20
MESSAGE_ID_DOMAIN = "openlane.cloud"


def build_message(mail: OutgoingMail, sender: str) -> EmailMessage:
    """The MIME message: text/plain alone, or multipart/alternative of text/plain and text/html; with images, the
    HTML and the pictures it shows go together in a multipart/related inside the alternative."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Message-ID"] = make_msgid(domain=MESSAGE_ID_DOMAIN)
    # RFC 3834: out-of-office and other robots must not answer.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.text)
    if mail.html:
        message.add_alternative(mail.html, subtype="html")
        if mail.images:
            html_part = message.get_payload()[-1]
            for image in mail.images:
                html_part.add_related(
                    image.data,
                    maintype="image",
                    subtype=image.subtype,
                    cid=f"<{image.content_id}>",
                    filename=image.filename,
                    disposition="inline",
                )
    return message


class SmtpMailer:
    def __init__(
        self, host: str, port: int, sender: str, *, user: str = "", password: str = "", starttls: bool = True
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._user = user
        self._password = password
        self._starttls = starttls

    def send(self, mail: OutgoingMail) -> None:
        message = build_message(mail, self._sender)
        with smtplib.SMTP(self._host, self._port, timeout=_TIMEOUT_S) as smtp:
            if self._starttls:
                smtp.starttls()
            if self._user:
                smtp.login(self._user, self._password)
            smtp.send_message(message)


class DisabledMailer:
    """Used when no SMTP host is configured: e-mail is off, and the log says so once per message."""

    def send(self, mail: OutgoingMail) -> None:
        del mail
