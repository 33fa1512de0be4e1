"""Compiling a template within bounds: its length, its time, and Python's compiler kept
off the process that asked.

jinja2 compiles a template in three steps: lexing and parsing it (Python code, about
2 s for a MiB of template on a slow machine), writing it out as Python source (as long
again), then Python's :func:`compile` of that source, which runs in C for about 3 s a
MiB and holds the interpreter all along: no other thread of the process, the server's
event loop included, runs meanwhile. So, for every template, wherever it comes from
(a Modelfile's TEMPLATE, a GGUF's chat template, ``/api/create``, a request's
``template``):

- it is at most :data:`MAX_TEMPLATE_CHARS` long: the Modelfile limit, which a TEMPLATE
  could not pass anyway;
- lexing, parsing and writing the source look at a clock as they go
  (:class:`CompileClock`, ``RenderLimits.compile_seconds``): a template that takes
  longer is refused;
- source longer than :data:`INLINE_COMPILE_CHARS` is compiled by a child Python
  process that hands back the code object marshalled (the same interpreter reads it
  back in milliseconds), and is killed at the deadline.
"""

from __future__ import annotations

import marshal
import subprocess
import sys
import time
from collections.abc import Iterator
from types import CodeType

from jinja2.ext import Extension
from jinja2.lexer import Token, TokenStream

from ladle.errors import TemplateError
from modelfile.source import MAX_MODELFILE_BYTES

#: Longest template accepted, in characters: the longest Modelfile, in bytes.
MAX_TEMPLATE_CHARS = MAX_MODELFILE_BYTES
#: Generated Python compiled in the calling process up to this length (a template of
#: about 10 KiB; some 25 ms of :func:`compile`); longer goes to a child process.
INLINE_COMPILE_CHARS = 100_000
#: How often a long compile lets other threads run.
YIELD_SECONDS = 0.002
#: Tokens between two looks at the clock.
_CLOCK_EVERY = 256

# Reads Python source on stdin, writes its code object, marshalled, on stdout. Run with
# ``-I -S``: nothing from the environment, the user's site or the working directory.
_COMPILER = (
    "import marshal, sys; source = sys.stdin.buffer.read().decode(errors='surrogatepass'); "
    "sys.stdout.buffer.write(marshal.dumps(compile(source, sys.argv[1], 'exec')))"
)


class CompileClock:
    """The deadline of one compile; like a render, a long compile lets waiting threads
    run every :data:`YIELD_SECONDS`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.next_yield = time.monotonic() + YIELD_SECONDS

    def check(self) -> None:
        now = time.monotonic()
        if now > self.deadline:
            raise TemplateError(f"compiling the template took longer than {self.seconds:g} s")
        if now > self.next_yield:
            time.sleep(0)  # see builder.templates.sandbox: the event loop may be waiting
            self.next_yield = now + YIELD_SECONDS

    def remaining(self) -> float:
        self.check()
        return self.deadline - time.monotonic()


class ClockedTokens(Extension):
    """Hands the parser the lexer's tokens, looking at the compile clock every few
    (``check_compile_time`` of the environment)."""

    def filter_stream(self, stream: TokenStream) -> Iterator[Token]:
        check = getattr(self.environment, "check_compile_time", None)
        for count, token in enumerate(stream):
            if check is not None and count % _CLOCK_EVERY == 0:
                check()
            yield token


def check_length(source: str) -> None:
    """Refuse a template longer than :data:`MAX_TEMPLATE_CHARS`."""
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateError(
            f"the template is {len(source):,} characters; at most {MAX_TEMPLATE_CHARS:,} "
            "(the longest a Modelfile may be)"
        )


def python_code(source: str, filename: str, clock: CompileClock) -> CodeType:
    """``compile(source, filename, "exec")``, in a child process when ``source`` is long;
    :class:`TemplateError` when the clock runs out or Python refuses the source (a
    template nested deeper than Python's compiler allows)."""
    if len(source) <= INLINE_COMPILE_CHARS:
        return _refusing_nesting(source, filename)
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _COMPILER, filename],
            input=source.encode(errors="surrogatepass"),
            capture_output=True,
            timeout=clock.remaining(),
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise TemplateError(
            f"compiling the template took longer than {clock.seconds:g} s"
        ) from None
    except OSError:  # no interpreter to start (an embedded Python): compile here
        return _refusing_nesting(source, filename)
    return _returned(done)


def _returned(done: subprocess.CompletedProcess[bytes]) -> CodeType:
    """The code object the child compiler wrote, or its complaint."""
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["failed"]
        raise TemplateError(f"Python cannot compile the template: {reason[0]}")
    code = marshal.loads(done.stdout)  # written by this same interpreter, just now
    if not isinstance(code, CodeType):
        raise TemplateError("Python cannot compile the template: no code came back")
    return code


def _refusing_nesting(source: str, filename: str) -> CodeType:
    try:
        return compile(source, filename, "exec")
    except (SyntaxError, RecursionError) as error:  # the limits of Python's compiler
        raise TemplateError(f"Python cannot compile the template: {error}") from None
