"""cdk-nag suppressions in one shape: every one names the rule, the exact findings and a specific reason."""

from __future__ import annotations

from collections.abc import Sequence

from cdk_nag import NagPackSuppression, NagSuppressions, RegexAppliesTo
from constructs import IConstruct

MIN_REASON_LENGTH = 40  # cdk-nag requires 10 characters; we want a sentence a reviewer can check.


def suppress(
    construct: IConstruct,
    *,
    rule: str,
    reason: str,
    applies_to: Sequence[str | RegexAppliesTo] = (),
    apply_to_children: bool = False,
) -> None:
    """Suppress one AwsSolutions rule on `construct`, limited to the `applies_to` findings when given.

    `applies_to` entries are exact finding ids (`Resource::*`) or `RegexAppliesTo(regex="/.../")` for
    findings that name a hashed logical id.
    """
    if len(reason) < MIN_REASON_LENGTH:
        raise ValueError(f"suppression of {rule} needs a specific reason, got {reason!r}")
    NagSuppressions.add_resource_suppressions(
        construct,
        [NagPackSuppression(id=rule, reason=reason, applies_to=list(applies_to) or None)],
        apply_to_children=apply_to_children,
    )
