"""The ingest runtime's configuration, from the environment (names in `featurepulse.constants`), parsed once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, field_validator

from featurepulse import constants
from featurepulse.domain.stages import parse_stage_map
from featurepulse.ingest.enrich import EnrichmentConfig
from featurepulse.ingest.limits import DEFAULT_MAX_FUTURE_SECONDS

DEFAULT_PUT_TIME_BUDGET_MS = 3000
DEFAULT_SOURCES_CACHE_TTL_SECONDS = 60
DEFAULT_RETRY_AFTER_SECONDS = 2


class IngestSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    stream_name: str = Field(min_length=1)
    sources_table_name: str = Field(min_length=1)
    quarantine_bucket_name: str = Field(min_length=1)
    quarantine_prefix: str = constants.QUARANTINE_PREFIX
    quarantine_kms_key_arn: str | None = None
    stage_map: dict[str, str] = Field(default_factory=lambda: parse_stage_map(None))
    put_time_budget_ms: int = Field(default=DEFAULT_PUT_TIME_BUDGET_MS, ge=0, le=25_000)
    sources_cache_ttl_seconds: float = Field(default=DEFAULT_SOURCES_CACHE_TTL_SECONDS, ge=0)
    max_future_seconds: int = Field(default=DEFAULT_MAX_FUTURE_SECONDS, ge=0)
    retry_after_seconds: int = Field(default=DEFAULT_RETRY_AFTER_SECONDS, ge=1)

    @field_validator("stage_map", mode="before")
    @classmethod
    def _parse_stage_map(cls, value: object) -> object:
        return parse_stage_map(value) if value is None or isinstance(value, str) else value

    @property
    def enrichment(self) -> EnrichmentConfig:
        return EnrichmentConfig(stage_map=self.stage_map, max_future_ms=self.max_future_seconds * 1000)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> IngestSettings:
        """Read the settings from `env`; unset optional values keep their defaults."""
        names = {
            "stream_name": constants.ENV_STREAM_NAME,
            "sources_table_name": constants.ENV_SOURCES_TABLE,
            "quarantine_bucket_name": constants.ENV_QUARANTINE_BUCKET,
            "quarantine_prefix": constants.ENV_QUARANTINE_PREFIX,
            "quarantine_kms_key_arn": constants.ENV_QUARANTINE_KMS_KEY_ARN,
            "stage_map": constants.ENV_STAGE_MAP,
            "put_time_budget_ms": constants.ENV_PUT_TIME_BUDGET_MS,
            "sources_cache_ttl_seconds": constants.ENV_SOURCES_CACHE_TTL_SECONDS,
            "max_future_seconds": constants.ENV_MAX_FUTURE_SECONDS,
            "retry_after_seconds": constants.ENV_RETRY_AFTER_SECONDS,
        }
        return cls.model_validate({field: env[name] for field, name in names.items() if env.get(name)})


@lru_cache(maxsize=1)
def settings_from_env() -> IngestSettings:
    """The settings of this process (parsed on first use; tests call `settings_from_env.cache_clear()`)."""
    return IngestSettings.from_env(os.environ)
