"""Read the mail the local SMTP server captured (a Maildir)."""

from __future__ import annotations

import email
import time
from email.message import Message
from pathlib import Path

ACCEPTED = "was accepted"  # the subject of the e-mail sent when a job is queued


def messages_about(maildir: Path, job_id: str, ended_only: bool = False) -> list[tuple[Path, Message]]:
    """E-mails whose subject names the job; `ended_only` skips the "accepted" one."""
    found = []
    for path in sorted((maildir / "new").glob("*")) + sorted((maildir / "cur").glob("*")):
        message = email.message_from_bytes(path.read_bytes())
        subject = str(message.get("Subject", ""))
        if job_id in subject and not (ended_only and ACCEPTED in subject):
            found.append((path, message))
    return found


def wait_for_mail(maildir: Path, job_id: str, timeout_s: float = 30, ended: bool = True) -> tuple[Path, Message]:
    """The first e-mail about the job's end (or, with ended=False, the first of any kind)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = messages_about(maildir, job_id, ended_only=ended)
        if found:
            return found[0]
        time.sleep(0.05)
    raise TimeoutError(f"no e-mail about job {job_id} in {maildir} after {timeout_s:.0f} s")


def text_body(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            return payload.decode(errors="replace") if isinstance(payload, bytes) else str(payload)
    return ""
