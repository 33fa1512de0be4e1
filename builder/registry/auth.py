"""Registry credentials and the challenges that ask for them.

A registry answers ``401`` with a ``WWW-Authenticate`` challenge:

* ``Basic realm="…"``: the request is sent again with the user's credentials for that
  host (from ladle's credentials file, else Docker's ``config.json``);
* ``Bearer realm="…",service="…",scope="…"``: a token is fetched from the realm (with the
  credentials, when there are any, else anonymously) and sent as ``Bearer``. The realm
  must be on the registry's own host (:func:`check_realm`): a registry cannot send the
  user's password to a third party. Ollama's registry is the one exception it knows
  (:data:`TRUSTED_REALM_HOSTS`).

``ladle login HOST`` writes ``~/.ladle/credentials.json`` in Docker's format
(``{"auths": {"HOST": {"auth": base64("user:password")}}}``), mode 0600. Docker's file is
read, never written; its credential helpers (``credsStore``) are not run.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from pathlib import Path

import httpx

from ladle.atomic import write_atomically
from ladle.errors import RegistryAuthError, UntrustedRegistryError
from ladle.settings import RegistrySettings

CREDENTIALS_MODE = 0o600
"""ladle's credentials file is readable by its owner only."""

TRUSTED_REALM_HOSTS: dict[str, frozenset[str]] = {
    "registry.ollama.ai": frozenset({"ollama.com"}),
}
"""Registries whose token service is known to live on another host."""

_PARAM = re.compile(r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')


@dataclass(frozen=True)
class Credentials:
    """A user name and password for one registry, and the file they came from."""

    username: str
    password: str
    source: str = ""

    def basic(self) -> str:
        """The ``Authorization`` header value."""
        pair = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")


@dataclass(frozen=True)
class Challenge:
    """A parsed ``WWW-Authenticate`` header: ``Basic`` or ``Bearer`` and its parameters."""

    scheme: str
    params: dict[str, str]

    @classmethod
    def parse(cls, header: str) -> Challenge:
        scheme, _, rest = header.strip().partition(" ")
        params = {}
        for match in _PARAM.finditer(rest):
            quoted, bare = match.group(2), match.group(3)
            value = quoted.replace('\\"', '"') if quoted is not None else bare or ""
            params[match.group(1).lower()] = value
        return cls(scheme.lower(), params)


class CredentialStore:
    """Finds credentials for a host, and keeps the ones ``ladle login`` saves."""

    def __init__(self, settings: RegistrySettings) -> None:
        self.path = settings.credentials
        self.docker_config = settings.docker_config

    def find(self, host: str) -> Credentials | None:
        """ladle's own entry for ``host``, else Docker's; None when neither has one."""
        for path, strict in ((self.path, True), (self.docker_config, False)):
            entry = _auths(path, strict).get(_host_key(host))
            if entry is not None:
                found = _decode(entry, path, strict)
                if found is not None:
                    return found
        return None

    def save(self, host: str, credentials: Credentials) -> None:
        """Write (or replace) ``host``'s entry in ladle's file, readable by its owner only."""
        auths = _auths(self.path, strict=True)
        auths[_host_key(host)] = {"auth": credentials.basic().removeprefix("Basic ")}
        self._write(auths)

    def remove(self, host: str) -> bool:
        """Forget ``host``'s entry in ladle's file; False when there was none."""
        auths = _auths(self.path, strict=True)
        if auths.pop(_host_key(host), None) is None:
            return False
        self._write(auths)
        return True

    def _write(self, auths: dict[str, dict[str, str]]) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = json.dumps({"auths": auths}, indent=2, sort_keys=True) + "\n"
        if self.path.exists():  # the replacement keeps the old file's bits: tighten them first
            self.path.chmod(CREDENTIALS_MODE)
        write_atomically(self.path, data.encode(), mode=CREDENTIALS_MODE)


def check_realm(realm: str, registry_host: str, allow_http: bool) -> httpx.URL:
    """The token realm as a URL, refused unless it is on the registry's host."""
    try:
        url = httpx.URL(realm)
    except httpx.InvalidURL:
        raise UntrustedRegistryError(registry_host, f"invalid token realm {realm!r}") from None
    hostname = host_name(registry_host)
    trusted = {hostname, *TRUSTED_REALM_HOSTS.get(hostname, frozenset())}
    if url.host.lower() not in trusted:
        raise UntrustedRegistryError(
            registry_host,
            f"its token realm {realm!r} is on another host ({url.host}); "
            "refusing to send credentials there",
        )
    if url.scheme != "https" and not (url.scheme == "http" and allow_http):
        raise UntrustedRegistryError(registry_host, f"its token realm {realm!r} is not HTTPS")
    if url.userinfo:
        raise UntrustedRegistryError(registry_host, "its token realm carries credentials")
    return url


def host_name(host: str) -> str:
    """``localhost:5000`` -> ``localhost``."""
    return host.rsplit(":", 1)[0].lower() if host.count(":") == 1 else host.lower()


def _host_key(host: str) -> str:
    """Docker writes keys as ``host``, ``https://host`` or ``https://host/v1/``."""
    key = host.strip().lower()
    for scheme in ("https://", "http://"):
        key = key.removeprefix(scheme)
    return key.split("/", 1)[0]


def _auths(path: Path, strict: bool) -> dict[str, dict[str, str]]:
    """The ``auths`` of a credentials file, keyed by host; ``strict`` reports a file that
    cannot be read (ladle's own), otherwise it is ignored (Docker's)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        auths = document.get("auths", {})
        if not isinstance(auths, dict):
            raise ValueError("'auths' is not an object")
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, AttributeError) as exc:
        if strict:
            raise RegistryAuthError(str(path), f"cannot read the credentials file: {exc}") from None
        return {}
    return {_host_key(key): value for key, value in auths.items() if isinstance(value, dict)}


def _decode(entry: dict[str, str], path: Path, strict: bool) -> Credentials | None:
    username, password = entry.get("username"), entry.get("password")
    if isinstance(username, str) and isinstance(password, str) and username:
        return Credentials(username, password, str(path))
    try:
        pair = base64.b64decode(entry.get("auth", ""), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, TypeError, ValueError):
        pair = ""
    username, colon, password = pair.partition(":")
    if colon and username:
        return Credentials(username, password, str(path))
    if strict:
        raise RegistryAuthError(str(path), "an entry of the credentials file has no valid 'auth'")
    return None
