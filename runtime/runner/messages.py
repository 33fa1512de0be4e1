"""The wire format between the server process and a runner process.

One JSON object per line. The server writes commands to the runner's stdin (the first
one is always :class:`Load`); the runner writes events to its stdout, named in the past
tense. Requests carry an ``id`` chosen by the server; every event about a request
repeats it, so that many requests can be in flight on one pipe::

    server -> runner                         runner -> server
    {"op":"load","spec":{...}}               {"type":"ready","info":{...}}
                                             | {"type":"load_failed","reason":"..."}
    {"op":"generate","id":1,"request":{..}}  {"type":"chunk","id":1,"chunk":{...}} ...
                                             ending with a chunk whose "done" is true
    {"op":"cancel","id":1}                   (a final chunk with done_reason "cancelled")
    {"op":"embed","id":2,"texts":[..],       {"type":"result","id":2,"value":
     "truncate":true}                          {"vectors":[[...]],"prompt_eval_count":9}}
    {"op":"tokenize","id":3,"text":".."}     {"type":"result","id":3,"value":[1,2]}
    {"op":"detokenize","id":4,"tokens":[..]} {"type":"result","id":4,"value":".."}
                                             any request: {"type":"failed","id":..,
                                                           "kind":"...","message":".."}
    {"op":"shutdown"}                        (the runner exits)

The runner's stderr carries llama.cpp's log; it is never part of the protocol.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from runtime.protocol import GenerateChunk, GenerateRequest, LoadSpec, RunnerInfo


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True)


# Commands, server -> runner


class Load(_Message):
    op: Literal["load"] = "load"
    spec: LoadSpec


class Generate(_Message):
    op: Literal["generate"] = "generate"
    id: int
    request: GenerateRequest


class Cancel(_Message):
    op: Literal["cancel"] = "cancel"
    id: int


class Embed(_Message):
    op: Literal["embed"] = "embed"
    id: int
    texts: list[str]
    truncate: bool = True


class Tokenize(_Message):
    op: Literal["tokenize"] = "tokenize"
    id: int
    text: str
    special: bool = True


class Detokenize(_Message):
    op: Literal["detokenize"] = "detokenize"
    id: int
    tokens: list[int]


class Shutdown(_Message):
    op: Literal["shutdown"] = "shutdown"


Command = Annotated[
    Load | Generate | Cancel | Embed | Tokenize | Detokenize | Shutdown,
    Field(discriminator="op"),
]
Request = Generate | Embed | Tokenize | Detokenize
"""A command that gets an answer (chunks, a result or a failure)."""


# Events, runner -> server

FailureKind = Literal["context_overflow", "invalid_request", "runner"]


class RunnerReady(_Message):
    type: Literal["ready"] = "ready"
    info: RunnerInfo


class LoadFailed(_Message):
    type: Literal["load_failed"] = "load_failed"
    reason: str
    log: str = ""


class ChunkGenerated(_Message):
    type: Literal["chunk"] = "chunk"
    id: int
    chunk: GenerateChunk


class ResultComputed(_Message):
    type: Literal["result"] = "result"
    id: int
    value: Any


class RequestFailed(_Message):
    type: Literal["failed"] = "failed"
    id: int
    kind: FailureKind
    message: str
    n_tokens: int = 0
    n_ctx: int = 0


Event = Annotated[
    RunnerReady | LoadFailed | ChunkGenerated | ResultComputed | RequestFailed,
    Field(discriminator="type"),
]

COMMANDS: TypeAdapter[Command] = TypeAdapter(Command)
EVENTS: TypeAdapter[Event] = TypeAdapter(Event)


def encode(message: BaseModel) -> bytes:
    """One line of the wire format."""
    return message.model_dump_json().encode() + b"\n"
