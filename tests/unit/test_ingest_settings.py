"""Ingest settings from the environment."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from featurepulse import constants
from featurepulse.domain.stages import DEFAULT_STAGE_MAP
from featurepulse.ingest.settings import IngestSettings

REQUIRED = {
    constants.ENV_STREAM_NAME: "events",
    constants.ENV_SOURCES_TABLE: "sources",
    constants.ENV_QUARANTINE_BUCKET: "lake",
}


def test_defaults_apply_to_unset_knobs() -> None:
    # Given only the required variables / When the settings are read / Then the defaults apply
    settings = IngestSettings.from_env(REQUIRED)
    assert settings.stream_name == "events"
    assert settings.quarantine_prefix == constants.QUARANTINE_PREFIX
    assert settings.stage_map == DEFAULT_STAGE_MAP
    assert settings.enrichment.max_future_ms == 86_400_000
    assert settings.put_time_budget_ms == 3000


def test_every_knob_is_read_from_its_variable() -> None:
    # Given every variable set
    env = {
        **REQUIRED,
        constants.ENV_QUARANTINE_PREFIX: "q/",
        constants.ENV_QUARANTINE_KMS_KEY_ARN: "arn:aws:kms:us-east-1:111122223333:key/k",
        constants.ENV_STAGE_MAP: '{"Report Exported": "complete"}',
        constants.ENV_PUT_TIME_BUDGET_MS: "1500",
        constants.ENV_SOURCES_CACHE_TTL_SECONDS: "10",
        constants.ENV_MAX_FUTURE_SECONDS: "3600",
        constants.ENV_RETRY_AFTER_SECONDS: "5",
    }

    # When the settings are read / Then each knob has its value
    settings = IngestSettings.from_env(env)
    assert settings.quarantine_prefix == "q/"
    assert settings.quarantine_kms_key_arn is not None
    assert settings.stage_map == {"Report Exported": "complete"}
    assert settings.put_time_budget_ms == 1500
    assert settings.sources_cache_ttl_seconds == 10
    assert settings.enrichment.max_future_ms == 3_600_000
    assert settings.retry_after_seconds == 5


@pytest.mark.parametrize(
    "env",
    [
        {constants.ENV_SOURCES_TABLE: "s", constants.ENV_QUARANTINE_BUCKET: "b"},
        {**REQUIRED, constants.ENV_STAGE_MAP: '{"Feature Used": "usage"}'},
        {**REQUIRED, constants.ENV_PUT_TIME_BUDGET_MS: "soon"},
    ],
)
def test_a_missing_or_bad_variable_is_an_error(env: dict[str, str]) -> None:
    # Given a missing stream name, an unknown stage, a non-numeric budget / When read / Then it fails loudly
    with pytest.raises((ValidationError, ValueError)):
        IngestSettings.from_env(env)
