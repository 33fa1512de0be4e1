"""The private parts of other libraries that ladle relies on, each exercised directly.

Where a library offers no public way to do what ladle needs, ladle uses a private name
and pyproject.toml pins the library to the versions tested here. An upgrade that moves
or changes the name fails here first, with a message naming the library, its version,
the private name and where ladle uses it, instead of somewhere far from the cause (or,
for the Lark tables, not at all: ladle would quietly fall back to the slow path).

- lark's ``Lark._load_from_dict``, in ``modelfile/tables.py`` (``build_parser``):
  ``lark>=1.2,<1.4``;
- llama-cpp-python's ``llama_cpp._ggml.libggml``, in ``runtime/hardware.py``
  (``_devices``): ``llama-cpp-python>=0.3.8,<0.4``;
- uvicorn's ``H11Protocol``, subclassed (its ``conn``, ``loop``, ``transport`` and
  hooks) in ``runtime/api/middleware/limits.py`` (``header_timeout_protocol``):
  ``uvicorn>=0.30,<0.56``;
- jinja2's ``Namespace._Namespace__attrs`` (the dict a ``namespace()`` keeps its
  attributes in), in ``builder/templates/sandbox_sizes.py`` (measuring what a template
  builds): ``jinja2>=3.1.4,<3.2``;
- the file layout of gguf (``gguf/constants.py``) and llama-cpp-python
  (``llama_cpp/llama_grammar.py``), whose plain modules ``ladle/standalone.py`` loads
  from their files without the packages.

Replaced by public API, so not here: ``llama_cpp._internals.LlamaModel`` (``count_tokens``
uses the llama.h bindings) and jinja2's ``Environment._parse`` (the sandbox overrides
``from_string`` and calls ``parse``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

import pytest

from grammar import modelfile_grammar
from modelfile import parser, tables


@contextlib.contextmanager
def private(distribution: str, name: str, used_by: str) -> Iterator[None]:
    """Any failure inside is reported as ``name`` of ``distribution`` having changed."""
    try:
        yield
    except Exception as error:
        pytest.fail(
            f"{distribution} {version(distribution)}: the private {name}, which {used_by} "
            f"relies on, is gone or changed ({type(error).__name__}: {error}). Pin "
            f"{distribution} in pyproject.toml to the versions that have it, or move "
            "ladle off it.",
            pytrace=False,
        )


def test_lark_load_from_dict() -> None:
    """Lark's own ``Lark.load`` reads a pickle; ladle ships marshal tables (which cannot
    run code when read) and rebuilds the parser from them with ``_load_from_dict``."""
    from lark import Lark

    text = 'FROM base\nPARAMETER stop "<end>"\nSYSTEM """Be brief."""\n'
    expected = Lark(modelfile_grammar(), transformer=parser._ToNodes(), **tables.OPTIONS)
    computed = tables.read(tables.compute(modelfile_grammar()), modelfile_grammar())
    assert computed is not None
    with private("lark", "Lark._load_from_dict", "modelfile/tables.py (build_parser)"):
        loaded = Lark._load_from_dict(  # type: ignore[no-untyped-call]
            computed["data"], computed["memo"], transformer=parser._ToNodes()
        )
        assert isinstance(loaded, Lark)
        assert loaded.parse(text) == expected.parse(text)


def test_llama_cpp_libggml() -> None:
    """ggml's device functions (``ggml_backend_dev_*``) have no binding in llama_cpp;
    ladle declares them on the ``libggml`` that llama-cpp-python loaded."""
    from runtime.hardware import _DeviceAPI

    with private("llama-cpp-python", "llama_cpp._ggml.libggml", "runtime/hardware.py"):
        from llama_cpp._ggml import libggml

        assert isinstance(libggml, ctypes.CDLL)
        api = _DeviceAPI(libggml)
        kinds = [api.type(api.get(index)) for index in range(api.count())]
        assert 0 in kinds, "no CPU device (GGML_BACKEND_DEVICE_TYPE_CPU)"
        cpu = api.get(kinds.index(0))
        assert api.text(api.name, cpu) and api.text(api.reg_name, api.backend_reg(cpu))


class _Transport(asyncio.Transport):
    """Just enough of a socket transport for uvicorn's protocol."""

    def __init__(self) -> None:
        super().__init__()
        self.closed = False
        self.written = b""

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 11434), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def test_uvicorn_h11_protocol() -> None:
    """uvicorn has no setting for how long request headers may take: ladle subclasses
    its ``H11Protocol``, using ``conn``, ``loop``, ``transport`` and its hooks."""
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    from runtime.api.middleware.limits import header_timeout_protocol

    async def exercise() -> None:
        protocol_class = header_timeout_protocol(0.05)
        config = Config(_app, http=protocol_class, log_level="critical", lifespan="off")
        loop = asyncio.get_running_loop()
        slow, prompt = _Transport(), _Transport()
        for transport in (slow, prompt):
            protocol = protocol_class(config, ServerState(), {}, _loop=loop)
            protocol.connection_made(transport)
            if transport is prompt:
                protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            else:
                protocol.data_received(b"GET / HT")  # headers that never finish
        assert not slow.closed
        await asyncio.sleep(0.2)
        assert slow.closed and not slow.written, "stalled headers did not close the connection"
        assert prompt.written.startswith(b"HTTP/1.1 204 "), prompt.written

    with private(
        "uvicorn", "H11Protocol", "runtime/api/middleware/limits.py (header_timeout_protocol)"
    ):
        asyncio.run(exercise())


def test_plain_modules_load_without_their_packages() -> None:
    """ladle loads two standard-library-only modules from their files, without the
    heavy ``__init__`` of their package (ladle/standalone.py)."""
    from ladle.standalone import load_module_file

    with private("gguf", "layout (gguf/constants.py alone)", "builder/gguf/constants.py"):
        constants = load_module_file("gguf", "constants.py", "ladle_test_gguf_constants")
        assert constants.GGML_QUANT_SIZES[constants.GGMLQuantizationType.Q4_0] == (32, 18)
        assert constants.LlamaFileType.MOSTLY_Q4_K_M and constants.GGUFValueType.STRING
    used_by = "runtime/runner/grammar.py"
    with private("llama-cpp-python", "layout (llama_cpp/llama_grammar.py alone)", used_by):
        grammar = load_module_file("llama_cpp", "llama_grammar.py", "ladle_test_llama_grammar")
        assert "root" in grammar.JSON_GBNF
        assert "root" in grammar.json_schema_to_gbnf('{"type": "object"}')


def test_jinja2_namespace_attrs() -> None:
    """A template can grow a ``namespace()`` attribute by attribute; the sandbox measures
    it through the dict jinja2 keeps them in."""
    from jinja2.utils import Namespace

    from builder.templates.sandbox_sizes import measure

    space = Namespace(text="a" * 1000)
    with private("jinja2", "Namespace._Namespace__attrs", "builder/templates/sandbox_sizes.py"):
        attrs = object.__getattribute__(space, "_Namespace__attrs")
        assert attrs == {"text": "a" * 1000}
        assert measure(space, 1 << 20, "the namespace").size >= 1000
