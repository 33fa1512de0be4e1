"""ladle's settings, read from the environment once, here and nowhere else."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ladle.errors import InvalidOptionError, SettingsError
from runtime.keep_alive import DEFAULT_KEEP_ALIVE, keep_alive_seconds

DEFAULT_MODELS = Path("~/.ladle/models")
DEFAULT_NUM_PARALLEL = 4
DEFAULT_MAX_LOADED_MODELS = 1
DEFAULT_MAX_QUEUE = 512
DEFAULT_CREDENTIALS = Path("~/.ladle/credentials.json")
DEFAULT_DOCKER_CONFIG = Path("~/.docker")
DEFAULT_HF_CACHE = Path("~/.cache/huggingface/hub")

_TRUE = frozenset({"1", "true", "yes", "on"})


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


class Settings(BaseModel):
    """Every environment-dependent setting; passed down, never read again."""

    model_config = ConfigDict(frozen=True)

    models: Path
    """``LADLE_MODELS``: the model store (an Ollama store such as ~/.ollama/models works)."""
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    hub: HubSettings = Field(default_factory=HubSettings)

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

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            models=Path(env.get("LADLE_MODELS") or DEFAULT_MODELS).expanduser(),
            registry=registry_settings(env),
            hub=hub_settings(env),
            keep_alive=_keep_alive(env, "LADLE_KEEP_ALIVE"),
            num_parallel=_count(env, "LADLE_NUM_PARALLEL", DEFAULT_NUM_PARALLEL),
            max_loaded_models=_count(env, "LADLE_MAX_LOADED_MODELS", DEFAULT_MAX_LOADED_MODELS),
            max_queue=_count(env, "LADLE_MAX_QUEUE", DEFAULT_MAX_QUEUE),
        )


def _keep_alive(env: Mapping[str, str], variable: str) -> float:
    """A duration as a request's ``keep_alive`` takes it (``"5m"``, ``"300"``, ``"-1"``)."""
    value = env.get(variable) or DEFAULT_KEEP_ALIVE
    try:
        return keep_alive_seconds(value, 0.0)
    except InvalidOptionError as exc:
        raise SettingsError(variable, value, exc.reason) from None


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
