"""The e-mail as one MIME message: multipart/mixed [ multipart/alternative [ text/plain,
multipart/related [ text/html, image/png (Content-ID) ... ] ], text/csv attachments ... ].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from featurepulse.reporting.charts import Chart


@dataclass(frozen=True)
class Attachment:
    filename: str
    data: bytes
    maintype: str = "text"
    subtype: str = "csv"


def build_message(
    *,
    subject: str,
    sender: str,
    recipients: Sequence[str],
    text: str,
    html: str,
    images: Sequence[Chart],
    attachments: Sequence[Attachment],
    date: datetime,
) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(date)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    html_part = message.get_body(preferencelist=("html",))
    if html_part is None:  # pragma: no cover - add_alternative just created it
        raise RuntimeError("the HTML part is missing")
    for image in images:
        html_part.add_related(
            image.png, "image", "png", cid=f"<{image.cid}>", filename=image.filename, disposition="inline"
        )
    for attachment in attachments:
        message.add_attachment(
            attachment.data, maintype=attachment.maintype, subtype=attachment.subtype, filename=attachment.filename
        )
    return message
