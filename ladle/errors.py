"""The one tree of errors that ladle shows to users.

::

    LadleError                 anything ladle reports to a user (CLI exit code 1)
    └── ModelfileError         a Modelfile that cannot be read, parsed or validated;
                               carries the file, line, column, reason and source line
    └── TemplateError          a chat template that cannot be compiled, converted or
                               rendered (syntax, sandbox violation, time or size limit);
                               carries the template line and column and the origin
                               (the Modelfile TEMPLATE instruction) when known
    └── BuildError             a problem building an image from a Modelfile
        └── GGUFError          a file that is not a usable GGUF model or adapter;
                               carries the path and the reason
        └── QuantizeRefusedError  a quantization the builder will not do: an unknown
                               type, weights quantized already (without requantize),
                               no weights to quantize (the caller's choice: HTTP 400)
        └── BuildInputError    an input that cannot make an image: a FROM that names
                               nothing, an adapter given as a model or the reverse, an
                               adapter for another architecture or base (HTTP 400)
    └── ConversationError      a conversation or tools file that is not what
                               `ladle render` and render_prompt take; carries the file
    └── InvalidNameError       a model name that is not [host/][namespace/]model[:tag]
    └── StoreError             the model store: missing model, corrupt blob or manifest
        └── ModelNotFoundError no image with that name in the store
        └── CorruptBlobError   a blob whose bytes do not match its digest
    └── InsufficientMemoryError  a model that cannot fit in this machine's memory (RAM
                               plus GPU) by the estimate, found before loading it;
                               carries the model, the bytes needed and available
    └── RegistryError          a registry that cannot be reached or refuses a request;
                               carries the registry's host
        └── RegistryAuthError  credentials missing or refused
        └── RemoteNotFoundError  no such model (or blob) on the registry
        └── UntrustedRegistryError  a registry that broke a safety rule: wrong bytes for
                               a digest, an invalid or oversized manifest, a token realm
                               or a credentialed redirect on another host; nothing of
                               what it sent is kept
    └── HubError               a Hugging Face repository, revision or GGUF file that
                               cannot be found or fetched (offline cache miss included)
    └── SettingsError          an environment variable ladle cannot use; names it
    └── InvalidOptionError     a request option (keep_alive, num_ctx, …) that cannot be
                               used; names the option and the value (HTTP 400)
    └── InvalidFieldError      an HTTP request field that cannot be used (images for a
                               model without vision, a bad format); names the field
                               (HTTP 400)
    └── RequestTooLargeError   a request over a size limit: its body, prompt or number of
                               messages (HTTP 413); names the limit and its setting
    └── RequestTimeoutError    a request body arriving too slowly: a blob upload below
                               LADLE_BLOB_MIN_RATE (HTTP 408); names the setting
    └── SchedulerError         the runtime cannot serve a request now (shutting down)
        └── QueueFullError     too many requests already waiting (HTTP 503); carries
                               retry_after, the seconds to wait before trying again
            └── TooManyUploadsError  LADLE_MAX_UPLOADS blob uploads running already
    └── RunnerError            a runner process that cannot load a model or serve a
                               request; carries the model and the runner's last log lines
        └── RunnerCrashedError the runner process died (signal or exit status); every
                               request in flight on it fails with this
            └── RunnerHungError  the runner stopped answering (no heartbeat, or no step
                               finished while busy) and was killed
        └── ContextOverflowError a prompt or text longer than the context; carries the
                               token count and the context size
        └── InvalidRequestError a request the runner refuses: a grammar that is not GBNF,
                               embeddings from a runner not loaded for them
    └── ServerUnreachableError  no ladle server answers at LADLE_HOST (the CLI's client)
    └── ServerError            the ladle server answered the client with an error; carries
                               the HTTP status and the server's message

Later parts add their branches here (builder, store, runtime), so that the CLI and the
HTTP API choose exit codes and status codes by type, never by message text. Third-party
exceptions (Lark, pydantic, llama-cpp-python) are translated into this tree at exactly
one boundary each and never reach users raw.

A message says what happened, in words for every audience: the same text reaches an HTTP
client of ``ladle serve`` and a user of the CLI, so it names no ``ladle`` command. The
CLI prints its own hint under an error, chosen by type (:mod:`ladle.cli.hints`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]

EXCERPT_WIDTH = 100
"""Characters of the source line shown under a diagnostic."""

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a Modelfile, located by file, 1-based line and 1-based column."""

    severity: Severity
    message: str
    line: int
    column: int
    path: str | None = None
    source_line: str | None = None

    def location(self) -> str:
        """``file:line:col`` (``<string>`` stands for text that came from no file)."""
        return f"{self.path or '<string>'}:{self.line}:{self.column}"

    def __str__(self) -> str:
        return f"{self.location()}: {self.severity}: {self.message}"

    def excerpt(self) -> str:
        """The diagnostic line followed by the source line and a caret under the column.

        Long lines are cut to a window around the column, and control characters are
        shown as U+FFFD so that a hostile file cannot drive the user's terminal.
        """
        if self.source_line is None:
            return str(self)
        start = max(0, self.column - 1 - EXCERPT_WIDTH // 2)
        shown = _CONTROL.sub("\ufffd", self.source_line[start : start + EXCERPT_WIDTH])
        shown = shown.replace("\t", " ")
        prefix = "…" if start else ""
        suffix = "…" if start + EXCERPT_WIDTH < len(self.source_line) else ""
        caret = " " * (len(prefix) + self.column - 1 - start) + "^"
        return f"{self}\n    {prefix}{shown}{suffix}\n    {caret}"


class LadleError(Exception):
    """Base of every error ladle reports to users."""


class ModelfileError(LadleError):
    """A Modelfile problem, with everything needed to point at it."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.excerpt())
        self.diagnostic = diagnostic

    @property
    def path(self) -> str | None:
        return self.diagnostic.path

    @property
    def line(self) -> int:
        return self.diagnostic.line

    @property
    def column(self) -> int:
        return self.diagnostic.column

    @property
    def reason(self) -> str:
        return self.diagnostic.message


class TemplateError(LadleError):
    """A chat template problem: at build time a broken template, at request time a
    refused render (``raise_exception``, sandbox violation, time or size limit).

    ``line`` and ``column`` are 1-based positions inside the template text (``None``
    when the problem has no position, e.g. a time limit); ``origin`` says where the
    template came from, e.g. ``Modelfile:3`` for a TEMPLATE instruction.
    """

    def __init__(
        self,
        reason: str,
        *,
        line: int | None = None,
        column: int | None = None,
        origin: str | None = None,
    ) -> None:
        self.reason, self.line, self.column, self.origin = reason, line, column, origin
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = "template"
        if self.line is not None:
            where += f" line {self.line}"
            if self.column is not None:
                where += f", column {self.column}"
        if self.origin:
            where += f" (from {self.origin})"
        return f"{where}: {self.reason}"


class ConversationError(LadleError):
    """A conversation (or tools list) that cannot be rendered: says which file and why."""

    def __init__(self, origin: str, reason: str) -> None:
        super().__init__(f"{origin}: {reason}")
        self.origin, self.reason = origin, reason


class InvalidNameError(LadleError):
    """A model name that cannot be used; says which part is wrong and why."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"invalid model name {name!r}: {reason}")
        self.name = name
        self.reason = reason


class StoreError(LadleError):
    """A problem with the model store itself."""


class ModelNotFoundError(StoreError):
    """No image of that name in the store."""

    def __init__(self, name: str) -> None:
        super().__init__(f"model '{name}' not found")  # Ollama's words, on its 404 too
        self.name = name


class CorruptBlobError(StoreError):
    """A blob whose content does not hash to its digest (tampered or damaged)."""

    def __init__(self, digest: str, reason: str) -> None:
        super().__init__(f"blob {digest} is corrupt: {reason}")
        self.digest = digest
        self.reason = reason


class BuildError(LadleError):
    """A problem building an image: an input that cannot be used, a failed step."""


class GGUFError(BuildError):
    """A file that is not a usable GGUF model or adapter (``path: reason``)."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path, self.reason = os.fspath(path), reason
        super().__init__(f"{self.path}: {reason}")


class QuantizeRefusedError(BuildError):
    """A quantization asked for that the builder refuses before it runs: an unknown type,
    weights that are quantized already, or nothing to quantize. The request's mistake,
    not a failed step (a quantizer that crashes is a plain ``BuildError``)."""


class BuildInputError(BuildError):
    """An input of the build that cannot make an image: a FROM that resolves to nothing,
    a folder with no GGUF or several, an adapter given as the model or a model as an
    adapter, an adapter made for another architecture or base model. The request's
    mistake, not a failed step (a copy or a quantizer that fails is a plain ``BuildError``)."""


class RunnerError(LadleError):
    """A runner that could not load its model or serve a request.

    ``model`` names the model (or its file); ``log`` holds the runner's last log lines
    (llama.cpp's own words), shown under the message when there are any.
    """

    def __init__(self, reason: str, *, model: str | None = None, log: str = "") -> None:
        self.reason, self.model, self.log = reason, model, log
        super().__init__(f"{reason}\n{log}" if log else reason)


class RunnerCrashedError(RunnerError):
    """The runner process stopped (a signal such as SIGSEGV, or an exit status)."""

    def __init__(self, model: str, how: str, *, log: str = "") -> None:
        self.how = how
        super().__init__(
            f"the runner for {model} stopped ({how}); the next request reloads it",
            model=model,
            log=log,
        )


class RunnerHungError(RunnerCrashedError):
    """The runner stopped answering (stopped, or stuck inside a step) and was killed."""

    def __init__(self, model: str, why: str, *, log: str = "") -> None:
        super().__init__(model, f"{why}; it was killed", log=log)


class ContextOverflowError(RunnerError):
    """A prompt (or a text to embed) longer than the context, with truncation not asked."""

    def __init__(self, n_tokens: int, n_ctx: int, *, model: str | None = None) -> None:
        self.n_tokens, self.n_ctx = n_tokens, n_ctx
        super().__init__(
            # Ollama's words, which clients look for ("the input length exceeds ...").
            f"the input length exceeds the context length ({n_tokens} tokens, the "
            f"context holds {n_ctx}); shorten it, raise num_ctx, or send "
            '"truncate": true to drop its oldest tokens',
            model=model,
        )


class SettingsError(LadleError):
    """An environment variable whose value ladle cannot use (``VARIABLE='value': reason``)."""

    def __init__(self, variable: str, value: str, reason: str) -> None:
        super().__init__(f"{variable}={value!r}: {reason}")
        self.variable, self.value, self.reason = variable, value, reason


class InvalidOptionError(LadleError):
    """A request option that cannot be used: names the option, its value and why."""

    def __init__(self, option: str, value: object, reason: str) -> None:
        super().__init__(f"invalid {option} {value!r}: {reason}")
        self.option, self.value, self.reason = option, value, reason


class InvalidFieldError(LadleError):
    """A field of an HTTP request that cannot be used as given (``field: reason``)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


class ServerUnreachableError(LadleError):
    """No ladle server answers at ``url``: says how to start one."""

    def __init__(self, url: str) -> None:
        super().__init__(f"could not connect to ladle at {url}: is `ladle serve` running?")
        self.url = url


class ServerError(LadleError):
    """The ladle server refused or failed a client's request (its ``{"error": …}``);
    ``retry_after`` is its ``Retry-After`` in seconds, when it sent one (503, 429)."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after


class RequestTooLargeError(LadleError):
    """A request over one of the server's size limits: ``what`` (the body, the prompt, the
    conversation) is ``size`` ``unit``, over ``limit``, which ``setting`` raises."""

    def __init__(self, what: str, size: int, limit: int, unit: str, setting: str) -> None:
        super().__init__(
            f"request too large: {what} is {size:,} {unit}, more than the limit of "
            f"{limit:,} ({setting})"
        )
        self.what, self.size, self.limit, self.unit, self.setting = what, size, limit, unit, setting


class RequestTimeoutError(LadleError):
    """A request body arriving too slowly: ``what`` (how far behind it is) and the
    ``setting`` that sets the pace."""

    def __init__(self, what: str, setting: str) -> None:
        super().__init__(f"request too slow: {what} ({setting})")
        self.what, self.setting = what, setting


class SchedulerError(LadleError):
    """The runtime cannot serve a request with a model now (e.g. it is shutting down)."""


class QueueFullError(SchedulerError):
    """Too many requests are already waiting; try again after ``retry_after`` seconds."""

    def __init__(self, waiting: int, retry_after: int) -> None:
        super().__init__(
            f"server busy: {waiting} requests are already waiting (LADLE_MAX_QUEUE); "
            f"try again in {retry_after} s"
        )
        self.waiting, self.retry_after = waiting, retry_after


class TooManyUploadsError(QueueFullError):
    """``running`` blob uploads already, the most at once; try again after ``retry_after``."""

    def __init__(self, running: int, retry_after: int) -> None:
        SchedulerError.__init__(
            self,
            f"server busy: {running} blob uploads are running already (LADLE_MAX_UPLOADS); "
            f"try again in {retry_after} s",
        )
        self.waiting, self.retry_after = running, retry_after


class InvalidRequestError(RunnerError):
    """A request the runner refuses as given (the caller's mistake, not the runner's)."""


class RegistryError(LadleError):
    """A registry that cannot be reached, or that refused a request."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"registry {host}: {reason}")
        self.host, self.reason = host, reason


class RegistryAuthError(RegistryError):
    """The registry wants credentials that ladle does not have, or refused them."""


class RemoteNotFoundError(RegistryError):
    """The registry has no such model (or blob)."""


class UnsupportedRegistryError(RegistryError):
    """A registry ladle does not push to (Ollama's, Hugging Face's): the request names the
    wrong place, whatever the registry would say."""


class UntrustedRegistryError(RegistryError):
    """The registry sent something ladle refuses for safety; none of it was kept."""


class HubError(LadleError):
    """A Hugging Face repository, revision or file that cannot be used."""

    def __init__(self, reference: str, reason: str) -> None:
        super().__init__(f"{reference}: {reason}")
        self.reference, self.reason = reference, reason


class InsufficientMemoryError(LadleError):
    """A model too large for this machine by the memory estimate, refused before loading
    (rather than loading it and being killed by the kernel's OOM killer)."""

    def __init__(self, model: str, needed: int, available: int, detail: str) -> None:
        self.model, self.needed, self.available, self.detail = model, needed, available, detail
        super().__init__(
            f"model {model!r} needs {_gigabytes(needed)} of system memory but "
            f"{_gigabytes(available)} is available ({detail}); try a smaller quantization "
            "or a shorter context (num_ctx), or free some memory"
        )


def _gigabytes(size: int) -> str:
    return f"{size / 1e9:.1f} GB" if size >= 1e8 else f"{size / 1e6:.1f} MB"
