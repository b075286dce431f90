"""An e-mail as a value: what notifications.py writes and the Mailer port sends."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MailImage:
    """A picture the HTML part shows inline as <img src="cid:CONTENT_ID">, sent next to it (multipart/related)."""

    content_id: str  # without the angle brackets of the Content-ID header
    data: bytes
    subtype: str = "png"  # of image/*
    filename: str = "image.png"


@dataclass(frozen=True)
class OutgoingMail:
    to: str
    subject: str
    text: str
    html: str | None = None
    images: tuple[MailImage, ...] = ()  # only shown by the HTML part, which must reference each by cid
