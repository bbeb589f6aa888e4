"""The Athena DynamoDB connector releases this stack can deploy: how each is packaged, which parameters it takes.

The live panels deploy the connector from the Serverless Application Repository (SAR application
`AthenaDynamoDBConnector`, docs/quicksight.md). Each release's SAR template is the file
`athena-dynamodb/athena-dynamodb.yaml` of https://github.com/awslabs/aws-athena-query-federation at the tag
`v<version>`; the tables below were read from those files (every tag up to v2026.33.1, 2026-08-20):

- `2022.4.1` .. `2024.38.1` create a zip function on the `java11` Lambda runtime (`Runtime: java11`);
- from `2024.42.3` on, a container-image function (`PackageType: Image`, the connector's image in AWS's ECR
  repository `athena-federation-repository-dynamodb:<version>`), which no Lambda runtime deprecation blocks.

Lambda blocks creating functions on a deprecated runtime from a published date (docs.aws.amazon.com/lambda/latest/dg/
lambda-runtimes.html: java11 deprecated 2026-06-30, creation blocked from 2026-07-31, updates from 2026-08-31), so
a java11 release makes the stack fail to create. `connector_release_problem` turns that into a synth-time error.

Tags left out on purpose: older releases (`java8`, Amazon Linux 1, long blocked), and three tags whose template
names another version than the tag (v2024.42.1 and v2024.42.2 point at image or version 2022.47.1, v2025.34.1 declares
2022.47.1): what SAR serves under those numbers cannot be told from the repository.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

CONTEXT_KEY = "quicksightAthenaConnectorVersion"
# The release the stack deploys unless told otherwise: the newest container-image release known here.
DEFAULT_CONNECTOR_VERSION = "2026.33.1"

Packaging = Literal["java11", "image"]

# Lambda's published date from which it refuses to create functions on a runtime (container images: never).
RUNTIME_CREATE_BLOCKED_FROM: dict[Packaging, date | None] = {"java11": date(2026, 7, 31), "image": None}

# The SAR template's parameters. Every image release and every java11 release from 2022.51.1 on declares these
# nine; 2022.42.1 to 2022.50.2 lack PermissionsBoundaryARN, older ones also LambdaRole.
TEMPLATE_PARAMETERS = frozenset(
    {
        "AthenaCatalogName",
        "SpillBucket",
        "SpillPrefix",
        "LambdaTimeout",
        "LambdaMemory",
        "LambdaRole",
        "DisableSpillEncryption",
        "KMSKeyId",
        "PermissionsBoundaryARN",
    }
)
REQUIRED_PARAMETERS = frozenset({"AthenaCatalogName", "SpillBucket"})

_JAVA11_RELEASES = (
    "2022.4.1", "2022.7.1", "2022.10.1", "2022.20.1", "2022.22.1", "2022.23.1", "2022.24.1", "2022.30.1",
    "2022.30.2", "2022.32.1", "2022.34.1", "2022.38.1", "2022.39.1", "2022.42.1", "2022.42.2", "2022.44.1",
    "2022.44.2", "2022.46.1", "2022.47.1", "2022.48.1", "2022.48.2", "2022.50.1", "2022.50.2", "2022.51.1",
    "2022.51.2", "2022.51.3", "2022.51.4", "2023.01.1", "2023.1.2", "2023.2.1", "2023.3.1", "2023.4.1", "2023.5.1",
    "2023.5.2", "2023.5.3", "2023.5.4", "2023.6.1", "2023.8.1", "2023.8.2", "2023.8.3", "2023.10.1", "2023.11.1",
    "2023.12.1", "2023.13.1", "2023.14.1", "2023.15.1", "2023.16.1", "2023.16.2", "2023.17.1", "2023.18.1",
    "2023.19.1", "2023.20.1", "2023.21.1", "2023.23.1", "2023.25.1", "2023.29.1", "2023.30.1", "2023.35.1",
    "2023.35.2", "2023.37.1", "2023.37.2", "2023.38.1", "2023.40.1", "2023.42.1", "2023.46.1", "2023.46.2",
    "2023.49.1", "2023.49.2", "2024.3.1", "2024.3.2", "2024.6.1", "2024.7.1", "2024.8.1", "2024.10.1", "2024.15.1",
    "2024.15.2", "2024.16.1", "2024.18.1", "2024.18.2", "2024.19.1", "2024.20.1", "2024.20.2", "2024.22.1",
    "2024.25.1", "2024.32.1", "2024.33.1", "2024.36.1", "2024.38.1",
)  # fmt: skip
_IMAGE_RELEASES = (
    "2024.42.3", "2024.46.1", "2024.46.2", "2024.50.1", "2024.50.2", "2024.51.1", "2025.1.1", "2025.2.1", "2025.2.2",
    "2025.3.1", "2025.3.2", "2025.5.1", "2025.6.1", "2025.7.1", "2025.8.1", "2025.10.1", "2025.12.1", "2025.12.2",
    "2025.14.1", "2025.14.2", "2025.15.1", "2025.22.1", "2025.23.1", "2025.25.1", "2025.25.2", "2025.28.1",
    "2025.31.1", "2025.34.2", "2025.34.3", "2025.37.1", "2025.41.1", "2025.43.1", "2025.46.1", "2026.3.1",
    "2026.4.1", "2026.5.1", "2026.7.1", "2026.10.1", "2026.13.1", "2026.17.1", "2026.19.1", "2026.21.1", "2026.24.1",
    "2026.28.1", "2026.30.1", "2026.33.1",
)  # fmt: skip


@dataclass(frozen=True)
class ConnectorRelease:
    version: str
    packaging: Packaging
    parameters: frozenset[str]  # what its SAR template declares: the stack passes no other


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _parameters(version: str) -> frozenset[str]:
    if _version_key(version) < (2022, 42, 1):
        return TEMPLATE_PARAMETERS - {"LambdaRole", "PermissionsBoundaryARN"}
    if _version_key(version) < (2022, 51, 1):
        return TEMPLATE_PARAMETERS - {"PermissionsBoundaryARN"}
    return TEMPLATE_PARAMETERS


CONNECTOR_RELEASES: dict[str, ConnectorRelease] = {
    **{v: ConnectorRelease(v, "java11", _parameters(v)) for v in _JAVA11_RELEASES},
    **{v: ConnectorRelease(v, "image", _parameters(v)) for v in _IMAGE_RELEASES},
}


def connector_release_problem(version: str, *, today: date) -> str | None:
    """Why `version` cannot be deployed on `today` (one line naming the context key), or None if it can."""
    release = CONNECTOR_RELEASES.get(version)
    if release is None:
        return (
            f"{CONTEXT_KEY}={version} is not a connector release this stack knows (cdk/athena_connector.py lists "
            f"them from each release's SAR template); use {DEFAULT_CONNECTOR_VERSION} or add the release there "
            "after reading its athena-dynamodb.yaml"
        )
    blocked_from = RUNTIME_CREATE_BLOCKED_FROM[release.packaging]
    if blocked_from is not None and today >= blocked_from:
        return (
            f"{CONTEXT_KEY}={version} deploys a {release.packaging} Lambda function, which Lambda refuses to create "
            f"since {blocked_from.isoformat()}; use a container-image release such as {DEFAULT_CONNECTOR_VERSION}"
        )
    return None
