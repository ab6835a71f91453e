"""quipbot's configuration: one pydantic-settings model with the sections of DESIGN.md.

Sources, first one that sets a key wins: environment (``QUIPBOT_``, nested ``__``), ``.env``,
the TOML file (``--config``, ``QUIPBOT_CONFIG`` or ``./quipbot.toml``), then the defaults.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from dotenv import dotenv_values
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

Provider = Literal["offline", "mistral", "lmstudio", "openai"]

DEFAULT_BASE_URLS: dict[str, str] = {
    "mistral": "https://api.mistral.ai/v1",
    "lmstudio": "http://localhost:1234/v1",
    "openai": "http://localhost:8000/v1",
}
# A local server with no model set serves the one it has loaded (quipbot asks it); caches and
# the HTTP API still know that model by one fixed name.
LOADED_MODEL = "local-model"
DEFAULT_MODELS: dict[str, str] = {
    "mistral": "mistral-small-latest",
    "lmstudio": LOADED_MODEL,
    "openai": LOADED_MODEL,
}


def _split_csv(value: Any) -> Any:
    """Let list keys come from the environment as ``a,b,c`` as well as JSON."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


def _http_url(value: str) -> str:
    if value and not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value.rstrip("/")


HttpUrl = Annotated[str, AfterValidator(_http_url)]  # empty: the provider's default
CsvList = Annotated[list[str], NoDecode, BeforeValidator(_split_csv)]
CsvIntList = Annotated[list[int], NoDecode, BeforeValidator(_split_csv)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BotSettings(Section):
    language: Literal["fr", "en"] = "fr"
    prefix: str = Field("!", min_length=1, max_length=3)
    persona: str = Field(
        "Quip, a witty and kind stream companion who answers in one or two short sentences",
        min_length=1,
        max_length=500,
    )
    data_dir: Path = Path("data")
    # A viewer silent this long leaves memory (what they heard, their last joke); SQLite
    # and Redis keep what must last. Memory stays flat however many viewers come and go.
    idle_user_s: float = Field(1800.0, ge=60, le=86_400)
    # History (the chat log, blocked messages, who heard which joke) older than keep_days, or
    # beyond the newest keep_rows of each, is deleted every few minutes: the database stays bounded.
    keep_days: float = Field(30.0, gt=0, le=3650)
    keep_rows: int = Field(200_000, ge=1000, le=100_000_000)

    @property
    def database(self) -> Path:
        return self.data_dir / "quipbot.db"

    @field_validator("prefix")
    @classmethod
    def _no_space_in_prefix(cls, value: str) -> str:
        if any(ch.isspace() for ch in value):
            raise ValueError("must not contain spaces")
        return value


class BackendSettings(Section):
    """One LLM endpoint. ``llm`` is one, and ``llm.fallback`` another tried when it is down."""

    provider: Provider = "offline"
    base_url: HttpUrl = ""
    api_key: SecretStr = SecretStr("")
    model: str = ""
    timeout_s: float = Field(30.0, gt=0, le=600)
    connect_timeout_s: float = Field(5.0, gt=0, le=60)
    # A hung server costs one viewer this long: its breaker then opens (!ask's resting line).
    first_byte_timeout_s: float = Field(8.0, gt=0, le=600)
    max_tokens: int = Field(300, ge=1, le=32_000)
    temperature: float = Field(0.9, ge=0, le=2)
    # An answer is read no further than this: a runaway server cannot fill memory.
    max_answer_bytes: int = Field(65_536, ge=1024, le=16 * 2**20)

    @property
    def resolved_base_url(self) -> str:
        return self.base_url or DEFAULT_BASE_URLS.get(self.provider, "")

    @property
    def resolved_model(self) -> str:
        return self.model or DEFAULT_MODELS.get(self.provider, "offline")

    @property
    def uses_loaded_model(self) -> bool:
        """No model set on a local server: use the one it has loaded (GET /models)."""
        return not self.model and DEFAULT_MODELS.get(self.provider) == LOADED_MODEL


class LLMSettings(BackendSettings):
    fallback: BackendSettings | None = None
    breaker_failures: int = Field(5, ge=1, le=1000)
    breaker_reset_s: float = Field(60.0, gt=0, le=3600)


class CacheSettings(Section):
    redis_url: str = ""
    l1_max: int = Field(10_000, ge=1, le=10_000_000)
    ask_ttl_s: float = Field(3600, gt=0)
    joke_ttl_s: float = Field(300, gt=0)
    joke_max: int = Field(100, ge=1)
    # A channel never hears a joke (or a rewording of it) again among its last joke_window jokes
    # within joke_window_s: everyone there reads every reply.
    joke_window: int = Field(500, ge=1, le=100_000)
    joke_window_s: float = Field(86_400.0, gt=0)
    joke_batch: int = Field(8, ge=5, le=20)  # jokes asked of the LLM in one call
    joke_wait_s: float = Field(3.0, gt=0, le=60)  # a cold pool waits this long, then offline
    fuzzy_threshold: float = Field(90.0, ge=50, le=100)

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix:// (or be empty)")
        return value


class LimitsSettings(Section):
    user_cooldown_s: float = Field(5.0, ge=0, le=3600)
    max_prompt_chars: int = Field(4096, ge=1, le=100_000)
    user_rate_per_min: int = Field(10, ge=0, le=10_000)
    max_answer_chars: int = Field(400, ge=50, le=10_000)  # a chat answer, not an essay


ModerationProvider = Literal["off", "mistral", "openai"]
DEFAULT_MODERATION_MODELS: dict[str, str] = {
    "mistral": "mistral-moderation-latest",
    "openai": "omni-moderation-latest",
}
DEFAULT_MODERATION_URLS: dict[str, str] = {
    "mistral": "https://api.mistral.ai/v1",
    "openai": "https://api.openai.com/v1",
}


class ModerationSettings(Section):
    """The moderation gate: banphrases always; a moderation model when ``provider`` is set."""

    provider: ModerationProvider = "off"
    base_url: HttpUrl = ""
    api_key: SecretStr = SecretStr("")
    model: str = ""
    # Categories that block; empty: the model's own verdict (any category it flags).
    categories: CsvList = []
    timeout_s: float = Field(2.0, gt=0, le=30)
    when_down: Literal["block", "allow"] = "block"  # the model cannot be reached or fails
    cache_s: float = Field(3600.0, ge=0, le=86_400)  # how long a verdict is reused

    @property
    def resolved_base_url(self) -> str:
        return self.base_url or DEFAULT_MODERATION_URLS.get(self.provider, "")

    @property
    def resolved_model(self) -> str:
        return self.model or DEFAULT_MODERATION_MODELS.get(self.provider, "")


class TwitchSettings(Section):
    enabled: bool = False
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    bot_id: str = ""
    owner_id: str = ""
    channels: CsvList = []
    access_token: SecretStr = SecretStr("")
    refresh_token: SecretStr = SecretStr("")
    # Ask Twitch's AutoMod about each LLM answer before sending it (the broadcaster grants
    # moderation:read; Twitch allows 5 checks a minute on a normal channel).
    automod: bool = False


class DiscordSettings(Section):
    enabled: bool = False
    token: SecretStr = SecretStr("")
    guild_ids: CsvIntList = []


class HttpSettings(Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)  # 0: any free port
    api_key: SecretStr = SecretStr("")
    max_body_kb: int = Field(256, ge=1, le=65_536)
    max_messages: int = Field(100, ge=1, le=10_000)
    max_input_chars: int = Field(32_000, ge=1, le=10_000_000)  # all message texts together
    rate_per_min: int = Field(600, ge=0, le=100_000_000)  # per client; 0 = unlimited
    rate_burst: int = Field(60, ge=1, le=1_000_000)
    moderate: bool = False  # /v1/chat/completions passes the moderation gate too
    # A client has this long to send a request's head, then its body; an idle connection closes.
    read_timeout_s: float = Field(10.0, gt=0, le=600)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="QUIPBOT_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    bot: BotSettings = BotSettings()
    llm: LLMSettings = LLMSettings()
    cache: CacheSettings = CacheSettings()
    limits: LimitsSettings = LimitsSettings()
    moderation: ModerationSettings = ModerationSettings()
    twitch: TwitchSettings = TwitchSettings()
    discord: DiscordSettings = DiscordSettings()
    http: HttpSettings = HttpSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            TomlConfigSettingsSource(settings_cls),
        )


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` holds one readable line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The TOML file to read: ``--config``, else ``QUIPBOT_CONFIG``, else ``./quipbot.toml``."""
    chosen = explicit or os.environ.get("QUIPBOT_CONFIG")
    if chosen:
        path = Path(chosen)
        if not path.is_file():
            raise ConfigError([f"config file {path}: not found"])
        return path
    default = Path("quipbot.toml")
    return default if default.is_file() else None


def load_settings(explicit: str | os.PathLike[str] | None = None) -> Settings:
    """Read every source, or raise ConfigError with one line per problem."""
    path = config_path(explicit)
    from_file: dict[str, Any] = {}
    if path is not None:
        try:
            from_file = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
            raise ConfigError([f"config file {path}: cannot be read ({exc})"]) from None

    class _FromFile(Settings):
        model_config = SettingsConfigDict(toml_file=path)

    problems = unknown_sections(from_file)
    try:
        settings = _FromFile()
    except ValidationError as exc:
        problems += [describe_error(err) for err in exc.errors()]
    except ValueError as exc:  # a malformed JSON list in the environment, say
        problems.append(f"config: {exc}")
    if problems:
        raise ConfigError(problems)
    return settings


def unknown_sections(from_file: Mapping[str, Any]) -> list[str]:
    """Sections no setting reads, in the TOML file or the environment (``[discrod]``,
    ``QUIPBOT_DISCROD__TOKEN``): pydantic-settings would silently ignore them."""
    problems = [
        f"{name}: unknown section{_closest(name)}" for name in from_file if not _known(name)
    ]
    for variable in {**dotenv_values(".env"), **os.environ}:
        name = variable.upper()
        if not name.startswith("QUIPBOT_") or "__" not in name:
            continue  # QUIPBOT_CONFIG, or not ours
        section = name.removeprefix("QUIPBOT_").partition("__")[0].lower()
        if not _known(section):
            problems.append(f"{variable}: unknown section {section!r}{_closest(section)}")
    return problems


def _known(section: str) -> bool:
    return section in Settings.model_fields


def _closest(section: str) -> str:
    """'; did you mean ...?' for a likely typo, else the sections there are."""
    sections = list(Settings.model_fields)
    match = difflib.get_close_matches(section, sections, n=1)
    return f"; did you mean {match[0]!r}?" if match else f" (sections: {', '.join(sections)})"


_SECRET_KEYS = {"api_key", "client_secret", "access_token", "refresh_token", "token"}


def describe_error(err: Any) -> str:
    """One pydantic error as ``section.key: what is allowed (got 'value')``."""
    loc = [str(part) for part in err["loc"] if not str(part).startswith("function-")]
    key = ".".join(loc) or "config"
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        message = f"must be one of {expected}"
    elif kind == "extra_forbidden":
        return f"{key}: unknown key (check the spelling against config/quipbot.example.toml)"
    elif kind == "missing":
        return f"{key}: is required"
    else:
        message = err["msg"].removeprefix("Value error, ")
        message = message[0].lower() + message[1:] if message else kind
    if loc and loc[-1] in _SECRET_KEYS:
        return f"{key}: {message}"
    return f"{key}: {message} (got {err['input']!r})"
