"""The values of the HTTP API's security settings, and their parsers: API keys and their
scopes, rate limits, CORS origins, Host names, proxy networks and byte sizes.

Kept apart from :mod:`ladle.settings` because each value is a small language of its own
(``admin:key``, ``60/min,20000tokens/min``, ``https://host:*``, ``32MiB``) with its own
checks and messages, while the settings module only says which variable feeds which
setting: :func:`ladle.settings.security_settings` reads the environment through the
``read_*`` functions here. Each raises :class:`~ladle.errors.SettingsError` naming the
variable, and never shows an API key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from ladle.errors import SettingsError

DEFAULT_ORIGINS = (
    "http://localhost:*",
    "https://localhost:*",
    "http://127.0.0.1:*",
    "https://127.0.0.1:*",
    "http://[::1]:*",
    "https://[::1]:*",
)
"""Origins CORS always allows: pages served from this machine, on any port (``:*``)."""

ApiScope = Literal["user", "admin"]
"""What an API key may do: ``user`` runs models, ``admin`` also creates, deletes, copies,
pulls, pushes and uploads blobs."""


class ApiKey(BaseModel):
    """One bearer token the HTTP API accepts, and its scope (its repr hides the secret)."""

    model_config = ConfigDict(frozen=True)

    secret: SecretStr
    scope: ApiScope = "user"


class Quota(BaseModel):
    """``amount`` per ``seconds``, refilled continuously (a token bucket of ``amount``)."""

    model_config = ConfigDict(frozen=True)

    amount: float = Field(gt=0)
    seconds: float = Field(gt=0)


class RateLimit(BaseModel):
    """Requests and generated tokens a client may spend per period (``None``: no limit)."""

    model_config = ConfigDict(frozen=True)

    requests: Quota | None = None
    tokens: Quota | None = None


_QUOTA = re.compile(r"(\d+(?:\.\d+)?)\s*(tokens?)?\s*/\s*(s|sec|second|m|min|minute|h|hour)")
_PERIOD_SECONDS = {
    **dict.fromkeys(("s", "sec", "second"), 1),
    **dict.fromkeys(("m", "min", "minute"), 60),
    **dict.fromkeys(("h", "hour"), 3600),
}
_ORIGIN = re.compile(r"[a-z][a-z0-9+.-]*://(\[[0-9a-f:.]+\]|[^\s/:\[\]*]+)(:(\d{1,5}|\*))?")
_HOSTNAME = re.compile(r"[a-z0-9_.-]+|\[[0-9a-f:.]+\]")
_API_KEY = re.compile(r"[\x21-\x7e]+")
_SIZE = re.compile(r"(\d+)\s*(b|kb|kib|mb|mib|gb|gib)?")
_SIZE_UNITS = {"kb": 10**3, "kib": 2**10, "mb": 10**6, "mib": 2**20, "gb": 10**9, "gib": 2**30}


def parse_rate_limit(text: str) -> RateLimit:
    """``"60/min,20000tokens/min"``: requests and generated tokens per ``s``, ``min`` or
    ``hour`` (either may be left out); ``off`` or ``none``: no limit."""
    if text.strip().lower() in {"off", "none"}:
        return RateLimit()
    quotas: dict[str, Quota] = {}
    for item in text.lower().split(","):
        match = _QUOTA.fullmatch(item.strip())
        if match is None or float(match[1]) <= 0:
            raise ValueError(f"{item.strip()!r} is not N/min or Ntokens/min (per s, min or hour)")
        kind = "tokens" if match[2] else "requests"
        if kind in quotas:
            raise ValueError(f"two limits on {kind}")
        quotas[kind] = Quota(amount=float(match[1]), seconds=_PERIOD_SECONDS[match[3]])
    return RateLimit(requests=quotas.get("requests"), tokens=quotas.get("tokens"))


def parse_api_key(entry: str) -> ApiKey:
    """``key`` (scope ``user``), ``user:key`` or ``admin:key``."""
    prefix, colon, secret = entry.strip().partition(":")
    scope: ApiScope = "admin" if prefix == "admin" else "user"
    if not colon or prefix not in ("user", "admin"):
        secret = entry.strip()
    if not _API_KEY.fullmatch(secret):
        raise ValueError("an API key is printable ASCII without spaces or commas")
    return ApiKey(secret=SecretStr(secret), scope=scope)


def read_api_keys(env: Mapping[str, str]) -> tuple[ApiKey, ...]:
    """Keys from ``LADLE_API_KEYS`` and ``LADLE_API_KEY_FILE``; an error never shows one."""
    sources = [("LADLE_API_KEYS", "(hidden)", env.get("LADLE_API_KEYS", "").split(","))]
    if path := env.get("LADLE_API_KEY_FILE"):
        try:
            lines = Path(path).expanduser().read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeError) as exc:
            raise SettingsError("LADLE_API_KEY_FILE", path, f"cannot read it ({exc})") from None
        lines = [line for line in lines if not line.lstrip().startswith("#")]
        sources.append(("LADLE_API_KEY_FILE", path, lines))
    keys: list[ApiKey] = []
    for variable, shown, entries in sources:
        for number, entry in enumerate(entries, 1):
            try:
                keys.extend([parse_api_key(entry)] if entry.strip() else [])
            except ValueError as exc:
                raise SettingsError(variable, shown, f"entry {number}: {exc}") from None
    return tuple(keys)


def read_rate_limit(env: Mapping[str, str], variable: str) -> RateLimit | None:
    """The limit ``variable`` sets, or ``None`` when it is unset or empty."""
    value = env.get(variable)
    if not value:
        return None
    try:
        return parse_rate_limit(value)
    except ValueError as exc:
        raise SettingsError(variable, value, str(exc)) from None


def read_origins(env: Mapping[str, str], variable: str) -> tuple[str, ...]:
    """:data:`DEFAULT_ORIGINS` and the origins named in ``variable``, checked."""
    value = env.get(variable, "")
    origins = list(DEFAULT_ORIGINS)
    for entry in filter(None, (item.strip().lower().rstrip("/") for item in value.split(","))):
        if not _ORIGIN.fullmatch(entry):
            reason = "is not scheme://host[:port or :*] ('*' and 'null' are refused)"
            raise SettingsError(variable, value, f"{entry!r} {reason}")
        origins.extend([entry] if entry not in origins else [])
    return tuple(origins)


def read_allowed_hosts(env: Mapping[str, str], variable: str) -> frozenset[str]:
    """The host names ``variable`` lists, lowercased, without a trailing dot."""
    value = env.get(variable, "")
    hosts = {item.strip().lower().rstrip(".") for item in value.split(",")} - {""}
    for host in hosts:
        if not _HOSTNAME.fullmatch(host):
            raise SettingsError(variable, value, f"{host!r} is not a host name (no port, no *)")
    return frozenset(hosts)


def read_networks(env: Mapping[str, str], variable: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """The addresses or CIDR networks ``variable`` lists (an address is a network of one)."""
    value = env.get(variable, "")
    try:
        return tuple(
            ip_network(item.strip(), strict=False) for item in value.split(",") if item.strip()
        )
    except ValueError as exc:
        raise SettingsError(variable, value, str(exc)) from None


def read_size(env: Mapping[str, str], variable: str, default: int) -> int:
    """A byte count such as ``33554432``, ``32MiB`` or ``500kb``; ``default`` when unset."""
    value = env.get(variable)
    if not value:
        return default
    match = _SIZE.fullmatch(value.strip().lower())
    if match is None or int(match[1]) < 1:
        raise SettingsError(variable, value, "expected a size such as 33554432 or 32MiB")
    return int(match[1]) * _SIZE_UNITS.get(match[2] or "b", 1)
