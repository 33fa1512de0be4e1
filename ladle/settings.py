"""ladle's settings, read from the environment once, here and nowhere else.

The HTTP API's security values (API keys, rate limits, origins, sizes) and their parsers
are in :mod:`ladle.security_values`; :func:`security_settings` says which variable feeds
which.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from ladle.errors import InvalidOptionError, SettingsError
from ladle.keep_alive import DEFAULT_KEEP_ALIVE, keep_alive_seconds
from ladle.security_values import (
    DEFAULT_ORIGINS,
    ApiKey,
    Quota,
    RateLimit,
    read_allowed_hosts,
    read_api_keys,
    read_networks,
    read_origins,
    read_rate_limit,
    read_size,
)

DEFAULT_MODELS = Path("~/.ladle/models")
DEFAULT_NUM_PARALLEL = 4
DEFAULT_MAX_LOADED_MODELS = 3
"""Models loaded at once (``LADLE_MAX_LOADED_MODELS``): Ollama's default, 3 (per GPU in
Ollama; ladle counts them over the whole machine). Memory limits it further: a model
loads only where it fits beside the others, unloading idle ones (:mod:`runtime.eviction`)."""
DEFAULT_MAX_QUEUE = 512
DEFAULT_CREDENTIALS = Path("~/.ladle/credentials.json")
DEFAULT_DOCKER_CONFIG = Path("~/.docker")
DEFAULT_HF_CACHE = Path("~/.cache/huggingface/hub")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 11434
"""``LADLE_HOST``'s parts when unset: loopback, on Ollama's port."""
DEFAULT_SHUTDOWN_GRACE_S = 10.0

DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
"""``LADLE_MAX_BODY_BYTES`` when unset: room for a long conversation with a few images."""
DEFAULT_MAX_BLOB_BYTES = 64 * 1024**3
"""``LADLE_MAX_BLOB_BYTES`` when unset: larger than any GGUF a single machine runs."""
DEFAULT_MAX_PROMPT_CHARS = 4_000_000
"""``LADLE_MAX_PROMPT_CHARS`` when unset: about a million tokens, more than any context."""
DEFAULT_MAX_MESSAGES = 4096
DEFAULT_BODY_TIMEOUT_S = 60.0
DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_BLOB_MIN_RATE = 32 * 1024
"""``LADLE_BLOB_MIN_RATE`` when unset, bytes a second: a 256 kbit/s link keeps up, a
client trickling bytes to hold a connection does not."""
DEFAULT_MAX_UPLOADS = 4
"""``LADLE_MAX_UPLOADS`` when unset: blob uploads at once (``ollama create`` sends one at
a time)."""
DEFAULT_RUNNER_TIMEOUT_S = 120.0
"""``LADLE_RUNNER_TIMEOUT`` when unset: longer than one step should ever take (a batch of
prompt tokens of a large model on a CPU), far shorter than waiting forever."""

KVCacheType = Literal["f16", "q8_0", "q4_0"]
"""The KV cache element types ladle offers (Ollama's ``OLLAMA_KV_CACHE_TYPE`` values):
f16, or llama.cpp's 8- and 4-bit blocks of 32 values (34 and 18 bytes a block)."""
KV_CACHE_TYPES: tuple[str, ...] = get_args(KVCacheType)
DEFAULT_KV_CACHE_TYPE: KVCacheType = "f16"
FlashAttention = Literal["auto", "on", "off"]
"""Flash attention: ``auto`` lets llama.cpp use it where the backend supports it."""
FLASH_ATTENTION_MODES: tuple[str, ...] = get_args(FlashAttention)
DEFAULT_FLASH_ATTENTION: FlashAttention = "auto"

DEFAULT_CACHE_FOLDER = Path(".ladle/prompt-cache")
"""``LADLE_CACHE_DIR`` when unset: this folder inside the store."""
DEFAULT_CACHE_MAX = 8 * 1024**3
"""``LADLE_CACHE_MAX`` when unset: saved prompt caches, all models together (a 3,000-token
chat of an 8B model with an f16 cache is ~400 MiB)."""

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class RegistrySettings(BaseModel):
    """Where registry credentials are found (``ladle login`` writes the first)."""

    model_config = ConfigDict(frozen=True)

    credentials: Path = Field(default_factory=DEFAULT_CREDENTIALS.expanduser)
    """``LADLE_CREDENTIALS``: ladle's own credentials file (mode 0600)."""
    docker_config: Path = Field(default_factory=(DEFAULT_DOCKER_CONFIG / "config.json").expanduser)
    """``$DOCKER_CONFIG/config.json``: Docker's, read for ``auths`` entries only."""
    insecure: frozenset[str] = frozenset()
    """``LADLE_INSECURE_REGISTRIES`` (comma-separated hosts): plain HTTP allowed."""
    proxy: bool = False
    """``HTTPS_PROXY``, ``HTTP_PROXY`` or ``ALL_PROXY`` is set (any case): registries other
    than loopback ones are reached through httpx, which honours them and ``NO_PROXY``."""


class HubSettings(BaseModel):
    """Hugging Face, as ``huggingface_hub`` reads its own environment variables."""

    model_config = ConfigDict(frozen=True)

    cache: Path = Field(default_factory=DEFAULT_HF_CACHE.expanduser)
    """``HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``$XDG_CACHE_HOME/huggingface/hub``."""
    token: str | None = None
    """``HF_TOKEN``: for gated and private repositories."""
    offline: bool = False
    """``HF_HUB_OFFLINE``: use only what the cache holds."""
    endpoint: str | None = None
    """``HF_ENDPOINT``: a mirror of huggingface.co."""


DEFAULT_SHARED_RATE_LIMIT = RateLimit(
    requests=Quota(amount=600, seconds=60), tokens=Quota(amount=100_000, seconds=60)
)
"""``LADLE_RATE_LIMIT`` when unset on a bind other than loopback: ``600/min,100000tokens/min``
per client, generous enough for one person, a brake on a runaway script."""


class SecuritySettings(BaseModel):
    """The HTTP API's defences (docs/security.md): Host check, CORS, keys, limits."""

    model_config = ConfigDict(frozen=True)

    origins: tuple[str, ...] = DEFAULT_ORIGINS
    """:data:`DEFAULT_ORIGINS` plus ``LADLE_ORIGINS`` (comma-separated origins such as
    ``https://app.example.com``; a ``:*`` port matches any port; ``*`` and ``null`` refused)."""
    allowed_hosts: frozenset[str] = frozenset()
    """``LADLE_ALLOWED_HOSTS``: Host names accepted besides loopback ones (a reverse proxy's
    public name); on a bind other than loopback, when set, the only ones accepted."""
    api_keys: tuple[ApiKey, ...] = ()
    """``LADLE_API_KEYS`` (``key1,admin:key2``) and ``LADLE_API_KEY_FILE`` (one a line, ``#``
    comments): when any is set, every request but ``/api/version`` needs one."""
    rate_limit: RateLimit | None = None
    """``LADLE_RATE_LIMIT`` (``60/min,20000tokens/min``; ``off``); unset: off on a loopback
    bind, :data:`DEFAULT_SHARED_RATE_LIMIT` on any other."""
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()
    """``LADLE_TRUSTED_PROXIES``: addresses (or CIDR networks) whose ``X-Forwarded-For`` names
    the client that rate limits count against."""
    max_body_bytes: int = Field(DEFAULT_MAX_BODY_BYTES, ge=1)
    """``LADLE_MAX_BODY_BYTES`` (``32MiB``): larger request bodies get 413 (blob uploads
    excepted)."""
    max_blob_bytes: int = Field(DEFAULT_MAX_BLOB_BYTES, ge=1)
    """``LADLE_MAX_BLOB_BYTES`` (``64GiB``): larger ``/api/blobs`` uploads get 413."""
    max_prompt_chars: int = Field(DEFAULT_MAX_PROMPT_CHARS, ge=1)
    """``LADLE_MAX_PROMPT_CHARS``: characters of prompt and message text in one request."""
    max_messages: int = Field(DEFAULT_MAX_MESSAGES, ge=1)
    """``LADLE_MAX_MESSAGES``: messages in one chat request."""
    body_timeout: float = Field(DEFAULT_BODY_TIMEOUT_S, ge=0)
    """``LADLE_BODY_TIMEOUT``: seconds a request body may take to arrive (0: no limit)."""
    header_timeout: float = Field(DEFAULT_HEADER_TIMEOUT_S, ge=0)
    """``LADLE_HEADER_TIMEOUT``: seconds a request's headers may take to arrive (0: none)."""
    blob_min_rate: int = Field(DEFAULT_BLOB_MIN_RATE, ge=1)
    """``LADLE_BLOB_MIN_RATE`` (``32KiB``): bytes a second an ``/api/blobs`` upload must
    keep up, over every 10 s the server waits for it; a slower one is cut off (408)."""
    max_uploads: int = Field(DEFAULT_MAX_UPLOADS, ge=1)
    """``LADLE_MAX_UPLOADS``: ``/api/blobs`` uploads at once; more get 503."""


class Settings(BaseModel):
    """Every environment-dependent setting; passed down, never read again."""

    model_config = ConfigDict(frozen=True)

    models: Path
    """``LADLE_MODELS``: the model store (an Ollama store such as ~/.ollama/models works)."""
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    hub: HubSettings = Field(default_factory=HubSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)

    keep_alive: float = Field(keep_alive_seconds(DEFAULT_KEEP_ALIVE, 0.0), ge=0)
    """``LADLE_KEEP_ALIVE``: seconds a model stays loaded after its last request, when the
    request does not say (``"5m"``; 0 unloads at once; negative, read as ``inf``, keeps)."""
    num_parallel: int = Field(DEFAULT_NUM_PARALLEL, ge=1)
    """``LADLE_NUM_PARALLEL``: requests one loaded model serves at once (its sequences)."""
    max_loaded_models: int = Field(DEFAULT_MAX_LOADED_MODELS, ge=1)
    """``LADLE_MAX_LOADED_MODELS``: models loaded at once; the idle one that would expire
    soonest makes room for another."""
    max_queue: int = Field(DEFAULT_MAX_QUEUE, ge=1)
    """``LADLE_MAX_QUEUE``: requests that may wait for a model; more are refused (503)."""
    host: str = DEFAULT_HOST
    """``LADLE_HOST`` (``[http://]host[:port]``, default ``127.0.0.1:11434``): the address
    ``ladle serve`` listens on and the CLI's client connects to."""
    port: int = Field(DEFAULT_PORT, ge=0, le=65535)
    api_key: str | None = Field(None, repr=False)
    """``LADLE_API_KEY``: the key ladle's own client commands (``run``, ``chat``, ``ps``,
    ``stop``, ``create --host``) send to the server as a Bearer token, for a server that
    has ``LADLE_API_KEYS`` on."""
    shutdown_grace: float = Field(DEFAULT_SHUTDOWN_GRACE_S, ge=0)
    """``LADLE_SHUTDOWN_GRACE``: seconds ``ladle serve`` lets requests in flight finish
    after SIGTERM or Ctrl-C before it cancels them and unloads every model."""
    runner_timeout: float = Field(DEFAULT_RUNNER_TIMEOUT_S, gt=0)
    """``LADLE_RUNNER_TIMEOUT``: seconds a runner with requests may go without finishing
    a step (a decode batch, an embedding batch), or 10 s (if less) without a heartbeat,
    before it is taken for hung, killed, and its requests failed."""
    kv_cache_type: KVCacheType = DEFAULT_KV_CACHE_TYPE
    """``LADLE_KV_CACHE_TYPE``: the KV cache's element type when a model does not say."""
    flash_attention: FlashAttention = DEFAULT_FLASH_ATTENTION
    """``LADLE_FLASH_ATTENTION``: ``auto`` (where the backend supports it), ``on`` or ``off``,
    when a model does not say."""
    cache_dir: Path | None = None
    """``LADLE_CACHE_DIR``: where runners save their slots' prompt caches when they unload
    (None: :data:`DEFAULT_CACHE_FOLDER` in the store, :attr:`prompt_cache_folder`)."""
    cache_max: int = Field(DEFAULT_CACHE_MAX, ge=0)
    """``LADLE_CACHE_MAX`` (``8GiB``): the saved caches' size cap, least recently used
    evicted first; ``0`` or ``off`` saves none."""
    context_length: int | None = Field(None, ge=1)
    """``LADLE_CONTEXT_LENGTH``: the default ``num_ctx``; unset, it is chosen from the free
    memory of the device the model lands on (:mod:`runtime.context_size`)."""

    @property
    def prompt_cache_folder(self) -> Path:
        """Where saved prompt caches are (``LADLE_CACHE_DIR``, else in the store)."""
        return self.cache_dir or self.models / DEFAULT_CACHE_FOLDER

    @property
    def url(self) -> str:
        """The server's base URL as a client reaches it (a wildcard bind means loopback)."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        host, port = _host(env, "LADLE_HOST")
        return cls(
            models=Path(env.get("LADLE_MODELS") or DEFAULT_MODELS).expanduser(),
            registry=registry_settings(env),
            hub=hub_settings(env),
            security=security_settings(env),
            keep_alive=_keep_alive(env, "LADLE_KEEP_ALIVE"),
            num_parallel=_count(env, "LADLE_NUM_PARALLEL", DEFAULT_NUM_PARALLEL),
            max_loaded_models=_count(env, "LADLE_MAX_LOADED_MODELS", DEFAULT_MAX_LOADED_MODELS),
            max_queue=_count(env, "LADLE_MAX_QUEUE", DEFAULT_MAX_QUEUE),
            host=host,
            port=port,
            api_key=env.get("LADLE_API_KEY", "").strip() or None,
            shutdown_grace=_seconds(env, "LADLE_SHUTDOWN_GRACE", DEFAULT_SHUTDOWN_GRACE_S),
            runner_timeout=_positive_seconds(env, "LADLE_RUNNER_TIMEOUT", DEFAULT_RUNNER_TIMEOUT_S),
            kv_cache_type=_choice(
                env, "LADLE_KV_CACHE_TYPE", KV_CACHE_TYPES, DEFAULT_KV_CACHE_TYPE
            ),
            flash_attention=_flash_attention(env, "LADLE_FLASH_ATTENTION"),
            context_length=_count(env, "LADLE_CONTEXT_LENGTH", 0) or None,
            cache_dir=_cache_dir(env, "LADLE_CACHE_DIR"),
            cache_max=_cache_max(env, "LADLE_CACHE_MAX"),
        )


def _keep_alive(env: Mapping[str, str], variable: str) -> float:
    """A duration as a request's ``keep_alive`` takes it (``"5m"``, ``"300"``, ``"-1"``)."""
    value = env.get(variable) or DEFAULT_KEEP_ALIVE
    try:
        return keep_alive_seconds(value, 0.0)
    except InvalidOptionError as exc:
        raise SettingsError(variable, value, exc.reason) from None


def parse_host(text: str) -> tuple[str, int]:
    """``(host, port)`` of a ``LADLE_HOST`` value, read as Ollama reads ``OLLAMA_HOST``:
    ``host``, ``host:port``, ``:port``, ``[::1]:port``, with an optional ``http://``."""
    value = text.strip().removeprefix("http://").rstrip("/")
    if "/" in value or value.startswith("https://"):
        raise ValueError("expected [http://]host[:port]")
    host, port = value, str(DEFAULT_PORT)
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest.removeprefix(":") or port
    elif value.count(":") == 1:
        host, port = value.split(":")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"the port {port!r} is not a number from 0 to 65535")
    return host or DEFAULT_HOST, int(port)


def _host(env: Mapping[str, str], variable: str) -> tuple[str, int]:
    value = env.get(variable)
    if not value:
        return DEFAULT_HOST, DEFAULT_PORT
    try:
        return parse_host(value)
    except ValueError as exc:
        raise SettingsError(variable, value, str(exc)) from None


def _seconds(env: Mapping[str, str], variable: str, default: float) -> float:
    """A number of seconds of at least 0, or ``default`` when unset or empty."""
    value = env.get(variable)
    if not value:
        return default
    try:
        seconds = float(value.strip())
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise SettingsError(variable, value, "expected a number of seconds of at least 0")
    return seconds


def _positive_seconds(env: Mapping[str, str], variable: str, default: float) -> float:
    """A number of seconds above 0, or ``default`` when unset or empty."""
    seconds = _seconds(env, variable, default)
    if seconds == 0:
        raise SettingsError(variable, env[variable], "expected a number of seconds above 0")
    return seconds


def _count(env: Mapping[str, str], variable: str, default: int) -> int:
    """A whole number of at least 1, or ``default`` when unset or empty."""
    value = env.get(variable)
    if not value:
        return default
    try:
        count = int(value.strip())
    except ValueError:
        count = 0
    if count < 1:
        raise SettingsError(variable, value, "expected a whole number of at least 1")
    return count


def _cache_dir(env: Mapping[str, str], variable: str) -> Path | None:
    value = env.get(variable, "").strip()
    return Path(value).expanduser() if value else None


def _cache_max(env: Mapping[str, str], variable: str) -> int:
    """A size as ``read_size`` reads it, or 0 (``0``, ``off``): save no prompt cache."""
    if env.get(variable, "").strip().lower() in {"0", "off"}:
        return 0
    return read_size(env, variable, DEFAULT_CACHE_MAX)


def _flash_attention(env: Mapping[str, str], variable: str) -> FlashAttention:
    """``auto``, ``on``, ``off``, or a true/false as ``OLLAMA_FLASH_ATTENTION`` takes it."""
    value = env.get(variable, "").strip().lower()
    if value in _TRUE or value in _FALSE:
        return "on" if value in _TRUE else "off"
    chosen: FlashAttention = _choice(env, variable, FLASH_ATTENTION_MODES, DEFAULT_FLASH_ATTENTION)
    return chosen


def _choice(env: Mapping[str, str], variable: str, choices: tuple[str, ...], default: str) -> Any:
    """One of ``choices`` (case-insensitive), or ``default`` when unset or empty."""
    value = env.get(variable, "").strip()
    if not value:
        return default
    if value.lower() not in choices:
        raise SettingsError(variable, value, f"expected one of {', '.join(choices)}")
    return value.lower()


def registry_settings(env: Mapping[str, str]) -> RegistrySettings:
    """Where credentials are read from, and which registries may speak plain HTTP."""
    docker = Path(env.get("DOCKER_CONFIG") or DEFAULT_DOCKER_CONFIG).expanduser()
    hosts = env.get("LADLE_INSECURE_REGISTRIES", "").split(",")
    insecure = {host.strip().lower() for host in hosts}
    proxies = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")
    return RegistrySettings(
        credentials=Path(env.get("LADLE_CREDENTIALS") or DEFAULT_CREDENTIALS).expanduser(),
        docker_config=docker / "config.json",
        insecure=frozenset(insecure - {""}),
        proxy=any(env.get(name) or env.get(name.lower()) for name in proxies),
    )


def hub_settings(env: Mapping[str, str]) -> HubSettings:
    """The Hugging Face cache and switches, resolved as ``huggingface_hub`` resolves them."""
    if env.get("HF_HUB_CACHE"):
        cache = Path(env["HF_HUB_CACHE"])
    elif env.get("HF_HOME"):
        cache = Path(env["HF_HOME"]) / "hub"
    elif env.get("XDG_CACHE_HOME"):
        cache = Path(env["XDG_CACHE_HOME"]) / "huggingface" / "hub"
    else:
        cache = DEFAULT_HF_CACHE
    return HubSettings(
        cache=cache.expanduser(),
        token=env.get("HF_TOKEN") or None,
        offline=env.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE,
        endpoint=env.get("HF_ENDPOINT") or None,
    )


def security_settings(env: Mapping[str, str]) -> SecuritySettings:
    """The HTTP API's defences from ``LADLE_ORIGINS``, ``LADLE_API_KEYS`` and the rest."""
    return SecuritySettings(
        origins=read_origins(env, "LADLE_ORIGINS"),
        allowed_hosts=read_allowed_hosts(env, "LADLE_ALLOWED_HOSTS"),
        api_keys=read_api_keys(env),
        rate_limit=read_rate_limit(env, "LADLE_RATE_LIMIT"),
        trusted_proxies=read_networks(env, "LADLE_TRUSTED_PROXIES"),
        max_body_bytes=read_size(env, "LADLE_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
        max_blob_bytes=read_size(env, "LADLE_MAX_BLOB_BYTES", DEFAULT_MAX_BLOB_BYTES),
        max_prompt_chars=_count(env, "LADLE_MAX_PROMPT_CHARS", DEFAULT_MAX_PROMPT_CHARS),
        max_messages=_count(env, "LADLE_MAX_MESSAGES", DEFAULT_MAX_MESSAGES),
        body_timeout=_seconds(env, "LADLE_BODY_TIMEOUT", DEFAULT_BODY_TIMEOUT_S),
        header_timeout=_seconds(env, "LADLE_HEADER_TIMEOUT", DEFAULT_HEADER_TIMEOUT_S),
        blob_min_rate=read_size(env, "LADLE_BLOB_MIN_RATE", DEFAULT_BLOB_MIN_RATE),
        max_uploads=_count(env, "LADLE_MAX_UPLOADS", DEFAULT_MAX_UPLOADS),
    )
