"""What the CLI prints for an error: its message, then the ``ladle`` command that helps.

An error's message says what happened, and the same text reaches an HTTP client of
``ladle serve``, who has no ``ladle`` command to run; so the command is named here, by
the error's type, and printed as a second line::

    error: model 'nope:latest' not found
    hint: ladle list shows the models you have
"""

from __future__ import annotations

from ladle.errors import (
    CorruptBlobError,
    LadleError,
    ModelNotFoundError,
    RegistryAuthError,
    UnsupportedRegistryError,
)

HINTS: dict[type[LadleError], str] = {
    ModelNotFoundError: "ladle list shows the models you have",
    CorruptBlobError: "ladle doctor lists the damage",
    RegistryAuthError: "ladle login HOST saves your credentials for a registry",
    UnsupportedRegistryError: "ladle cp NAME HOST/NAMESPACE/MODEL names an image for your registry",
}
"""The hint by error type; the nearest class in an error's MRO decides."""


def hint(error: LadleError) -> str | None:
    """The command that helps with ``error``, if the CLI knows one."""
    for cls in type(error).__mro__:
        if cls in HINTS:
            return HINTS[cls]
    return None


def describe(error: LadleError) -> str:
    """``error: message``, and ``hint: …`` on a second line when there is a hint."""
    found = hint(error)
    return f"error: {error}" + (f"\nhint: {found}" if found else "")
