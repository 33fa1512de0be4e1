"""``keep_alive``: how long a model stays loaded after its last request.

Values are read as Ollama's ``api.Duration`` reads them, so that requests written for
Ollama mean the same here:

- a Go duration string (``time.ParseDuration``): ``"5m"``, ``"1h30m"``, ``"10s"``,
  ``"1.5h"``, ``"300ms"``, ``"-1m"``; units ``ns``, ``us`` (``µs``), ``ms``, ``s``,
  ``m``, ``h``; a bare ``"0"`` needs no unit;
- a number: seconds;
- negative: keep the model loaded until it is unloaded or evicted (:data:`FOREVER`);
- zero: unload the model as soon as its last request finishes;
- longer than Go's longest ``time.Duration`` (:data:`LONGEST`, about 292 years): also
  :data:`FOREVER`. Ollama's ``ParseDuration`` refuses such a string and wraps such a
  number around; ladle reads both as what they plainly ask, and so never keeps a number
  that a later date computation (``/api/ps``'s ``expires_at``) overflows on.

ladle also takes a string holding a bare number (``"300"``) as seconds, as Ollama's
``OLLAMA_KEEP_ALIVE`` variable does; Ollama's API refuses it with "missing unit", which
helps nobody.
"""

from __future__ import annotations

import math
import re

from ladle.errors import InvalidOptionError

FOREVER = math.inf
"""The duration of a negative ``keep_alive``: never expire."""

LONGEST = (2**63 - 1) / 1e9
"""Go's longest ``time.Duration`` in seconds (``math.MaxInt64`` nanoseconds): a longer
``keep_alive`` means :data:`FOREVER`."""

DEFAULT_KEEP_ALIVE = "5m"
"""``LADLE_KEEP_ALIVE`` when unset, as Ollama's default."""

KeepAlive = str | float | int | None
"""What a request's ``keep_alive`` field may hold (``None``: the server's default)."""

_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,  # MICRO SIGN, as Go accepts
    "\u03bcs": 1e-6,  # GREEK SMALL LETTER MU, as Go accepts
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_UNIT = "|".join(sorted(map(re.escape, _UNIT_SECONDS), key=len, reverse=True))
_COMPONENT = re.compile(rf"({_NUMBER})({_UNIT})")
_DURATION = re.compile(rf"([-+]?)((?:{_NUMBER}(?:{_UNIT}))+)")
_BARE_NUMBER = re.compile(rf"[-+]?{_NUMBER}")


def parse_duration(text: str) -> float:
    """Seconds in a Go duration string (``time.ParseDuration``'s syntax), sign kept."""
    value = text.strip()
    if _BARE_NUMBER.fullmatch(value):
        return float(value)
    match = _DURATION.fullmatch(value)
    if match is None:
        raise ValueError(
            f"{text!r} is not a duration: use a number of seconds or a Go duration "
            "such as '5m', '1h30m', '10s' or '-1m'"
        )
    sign = -1.0 if match[1] == "-" else 1.0
    parts = _COMPONENT.findall(match[2])
    total = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    return sign * total


def keep_alive_seconds(value: KeepAlive, default: float) -> float:
    """Seconds to stay loaded after the last request: ``0`` unloads, :data:`FOREVER` keeps
    (a negative value, or one past :data:`LONGEST`).

    ``None`` gives ``default`` (already in seconds, from the settings).
    """
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidOptionError("keep_alive", value, "expected a duration string or seconds")
    try:
        seconds = parse_duration(value) if isinstance(value, str) else float(value)
    except ValueError as exc:
        raise InvalidOptionError("keep_alive", value, str(exc)) from None
    if math.isnan(seconds):
        raise InvalidOptionError("keep_alive", value, "not a number")
    return FOREVER if seconds < 0 or seconds >= LONGEST else seconds
