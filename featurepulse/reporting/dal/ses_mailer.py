"""Send a raw MIME message with SESv2 (the only way to send attachments and inline images)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class SesMailer:
    def __init__(self, client: Any, *, configuration_set: str | None = None) -> None:
        self._client = client  # a boto3 "sesv2" client
        self._configuration_set = configuration_set

    def send(self, raw: bytes, *, sender: str, recipients: Sequence[str]) -> str:
        """Send to every recipient in one call; return SES's MessageId. Raises on any refusal."""
        request: dict[str, Any] = {
            "FromEmailAddress": sender,
            "Destination": {"ToAddresses": list(recipients)},
            "Content": {"Raw": {"Data": raw}},
        }
        if self._configuration_set:
            request["ConfigurationSetName"] = self._configuration_set
        response = self._client.send_email(**request)
        return str(response["MessageId"])
