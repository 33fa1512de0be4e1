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
    {"op":"embed","id":2,"texts":[..],       {"type":"embeddings","id":2,"vectors":[[..]]}
     "truncate":true}                          ... one per embedding batch, the last with
                                               "done":true and "prompt_eval_count":9
    {"op":"tokenize","id":3,"text":".."}     {"type":"result","id":3,"value":[1,2]}
    {"op":"detokenize","id":4,"tokens":[..]} {"type":"result","id":4,"value":".."}
                                             any request: {"type":"failed","id":..,
                                                           "kind":"...","message":".."}
    {"op":"shutdown"}                        (the runner exits)
                                             every HEARTBEAT_S, from load to exit:
                                             {"type":"heartbeat","steps":..}

A cancel reaches a generation before its next step and an embedding before its next
batch. The heartbeat comes from a thread of its own, so it keeps coming while a step is
long; ``steps`` counts the runner's loop turns, so a runner whose loop stopped moving
(a hang inside llama.cpp) is told apart from one that is merely busy, and a runner that
sends nothing at all (stopped, SIGSTOP) from both (:mod:`runtime.runner.client`).

The runner's stderr carries llama.cpp's log; it is never part of the protocol.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from ladle.errors import ContextOverflowError, InvalidRequestError, LadleError
from runtime.protocol import GenerateChunk, GenerateRequest, LoadSpec, RunnerInfo

HEARTBEAT_S = 0.5
"""How often a runner says it is alive (:class:`Heartbeat`), busy or not."""


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


class EmbeddingsComputed(_Message):
    """The vectors of one embedding batch, in the request's order; the last has ``done``
    and the tokens evaluated for the whole request."""

    type: Literal["embeddings"] = "embeddings"
    id: int
    vectors: list[list[float]]
    done: bool = False
    prompt_eval_count: int = 0


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


class Heartbeat(_Message):
    """The runner is alive, and its loop has turned ``steps`` times so far."""

    type: Literal["heartbeat"] = "heartbeat"
    steps: int


Event = Annotated[
    RunnerReady
    | LoadFailed
    | ChunkGenerated
    | EmbeddingsComputed
    | ResultComputed
    | RequestFailed
    | Heartbeat,
    Field(discriminator="type"),
]

COMMANDS: TypeAdapter[Command] = TypeAdapter(Command)
EVENTS: TypeAdapter[Event] = TypeAdapter(Event)


def ends_request(
    event: ChunkGenerated | EmbeddingsComputed | ResultComputed | RequestFailed,
) -> bool:
    """Whether ``event`` is the last one about its request."""
    if isinstance(event, ChunkGenerated):
        return event.chunk.done
    if isinstance(event, EmbeddingsComputed):
        return event.done
    return True


def failure_of(request_id: int, error: LadleError) -> RequestFailed:
    """The event failing request ``request_id`` with ``error``; its ``kind`` tells the
    server which error to raise again."""
    if isinstance(error, ContextOverflowError):
        return RequestFailed(
            id=request_id,
            kind="context_overflow",
            message=str(error),
            n_tokens=error.n_tokens,
            n_ctx=error.n_ctx,
        )
    kind = "invalid_request" if isinstance(error, InvalidRequestError) else "runner"
    return RequestFailed(id=request_id, kind=kind, message=str(error))


def encode(message: BaseModel) -> bytes:
    """One line of the wire format."""
    return message.model_dump_json().encode() + b"\n"
