"""The syntax tree of a Modelfile: one node per instruction or comment, with positions.

This is the syntax level (Ollama's ``ParseFile``): values are the exact strings Ollama's
parser would produce, unchecked. :mod:`modelfile.spec` holds the typed, validated form.
Nodes compare equal when their content is equal, wherever they stand in the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal

if TYPE_CHECKING:
    from modelfile.spec import ModelSpec

Role = Literal["system", "user", "assistant"]
ROLES: tuple[Role, ...] = ("system", "user", "assistant")


@dataclass(frozen=True)
class Span:
    """Where a node stands in its file: 1-based line and column of its first and last char."""

    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True)
class Node:
    """Base of every syntax node; ``span`` covers the whole node."""

    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True)
class Comment(Node):
    """A ``#`` comment line; ``text`` starts with ``#``. Kept so that ``fmt`` keeps it."""

    text: str


@dataclass(frozen=True)
class Instruction(Node):
    """An instruction with its unquoted value; ``value_span`` points at the value."""

    keyword: ClassVar[str]
    command_name: ClassVar[str]

    value: str
    value_span: Span = field(compare=False, repr=False)

    def command(self) -> tuple[str, str]:
        """This instruction as Ollama's parser returns it: ``(name, args)``."""
        return (self.command_name, self.value)


@dataclass(frozen=True)
class From(Instruction):
    """``FROM`` a model name, a GGUF file, a directory or a hub reference."""

    keyword = "FROM"
    command_name = "model"


@dataclass(frozen=True)
class Parameter(Instruction):
    """``PARAMETER name value``; the name is checked only by validation, as in Ollama."""

    keyword = "PARAMETER"
    command_name = "parameter"

    name: str = ""
    name_span: Span | None = field(default=None, compare=False, repr=False)

    def command(self) -> tuple[str, str]:
        return (self.name, self.value)


@dataclass(frozen=True)
class Message(Instruction):
    """``MESSAGE role content``: a turn of the conversation stored in the image."""

    keyword = "MESSAGE"
    command_name = "message"

    role: Role = "user"
    role_span: Span | None = field(default=None, compare=False, repr=False)

    def command(self) -> tuple[str, str]:
        return (self.command_name, f"{self.role}: {self.value}")


@dataclass(frozen=True)
class Template(Instruction):
    """``TEMPLATE``: the chat template (Jinja, or an Ollama Go template to convert)."""

    keyword = "TEMPLATE"
    command_name = "template"


@dataclass(frozen=True)
class System(Instruction):
    """``SYSTEM``: the default system prompt."""

    keyword = "SYSTEM"
    command_name = "system"


@dataclass(frozen=True)
class Adapter(Instruction):
    """``ADAPTER``: a LoRA adapter file; ladle keeps every ADAPTER line, in order."""

    keyword = "ADAPTER"
    command_name = "adapter"


@dataclass(frozen=True)
class License(Instruction):
    """``LICENSE``: license text; several accumulate in order."""

    keyword = "LICENSE"
    command_name = "license"


@dataclass(frozen=True)
class Requires(Instruction):
    """``REQUIRES``: the lowest Ollama-compatible version the model needs (semver)."""

    keyword = "REQUIRES"
    command_name = "requires"


@dataclass(frozen=True)
class Draft(Instruction):
    """``DRAFT``: a draft model for speculative decoding (accepted as Ollama does)."""

    keyword = "DRAFT"
    command_name = "draft"


@dataclass(frozen=True)
class Renderer(Instruction):
    """``RENDERER``: the name of a built-in prompt renderer (accepted as Ollama does)."""

    keyword = "RENDERER"
    command_name = "renderer"


@dataclass(frozen=True)
class OutputParser(Instruction):
    """``PARSER``: the name of a built-in output parser (accepted as Ollama does)."""

    keyword = "PARSER"
    command_name = "parser"


INSTRUCTION_TYPES: tuple[type[Instruction], ...] = (
    From,
    Parameter,
    Message,
    Template,
    System,
    Adapter,
    License,
    Requires,
    Draft,
    Renderer,
    OutputParser,
)
KEYWORDS: tuple[str, ...] = tuple(kind.keyword for kind in INSTRUCTION_TYPES)

Item = Instruction | Comment


@dataclass(frozen=True)
class Modelfile:
    """A parsed Modelfile: its instructions and comments in file order.

    ``path`` names the file and ``text`` is the source, both for diagnostics; neither
    takes part in equality.
    """

    items: tuple[Item, ...]
    path: str | None = field(default=None, compare=False)
    text: str | None = field(default=None, compare=False, repr=False)

    @property
    def instructions(self) -> tuple[Instruction, ...]:
        return tuple(item for item in self.items if isinstance(item, Instruction))

    @property
    def comments(self) -> tuple[Comment, ...]:
        return tuple(item for item in self.items if isinstance(item, Comment))

    @property
    def commands(self) -> list[tuple[str, str]]:
        """The instructions as Ollama's parser returns them: ``[(name, args), …]``."""
        return [item.command() for item in self.instructions]

    def validate(self) -> ModelSpec:
        """The typed meaning of this Modelfile; raises ``ModelfileError`` on the first error."""
        from modelfile.spec import validate  # the meaning level builds on this module

        return validate(self)
