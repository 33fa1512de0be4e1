"""A client that leaves cancels its request wherever it waits, and only then: an app
whose answer is complete finishes what it does after, and its errors pass unchanged."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from runtime.api.middleware.disconnect import serve_until_gone

SCOPE: Scope = {"type": "http", "method": "POST", "path": "/api/embed", "headers": []}


class Client:
    """The server side of one connection: the body was read; the client leaves when
    told (``leave``), or the response completes."""

    def __init__(self) -> None:
        self.left = asyncio.Event()
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        await self.left.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            self.left.set()  # uvicorn's receive says disconnect once the answer is done

    def leave(self) -> None:
        self.left.set()


def run(coroutine: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, timeout=10))


def test_a_client_that_leaves_cancels_the_app_where_it_waits() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((await receive())["body"].decode())
        try:
            await asyncio.Event().wait()  # queued behind other work, forever
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    async def main() -> None:
        client = Client()
        asyncio.get_running_loop().call_later(0.05, client.leave)
        await serve_until_gone(app, SCOPE, b"{}", client.receive, client.send)
        assert client.sent == []

    run(main())
    assert seen == ["{}", "cancelled"]


def test_the_app_still_hears_the_disconnect_when_it_listens() -> None:
    heard: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        try:
            heard.append((await receive())["type"])
            await asyncio.sleep(10)
        finally:
            heard.append("ended")

    async def main() -> None:
        client = Client()
        asyncio.get_running_loop().call_later(0.05, client.leave)
        await serve_until_gone(app, SCOPE, b"", client.receive, client.send)

    run(main())
    assert heard == ["http.disconnect", "ended"]


def test_an_app_whose_answer_is_complete_is_not_cancelled() -> None:
    done: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        await asyncio.sleep(0.05)  # work after the answer (a background task)
        done.append("after")

    async def main() -> None:
        client = Client()
        await serve_until_gone(app, SCOPE, b"", client.receive, client.send)
        assert [message["type"] for message in client.sent] == [
            "http.response.start",
            "http.response.body",
        ]

    run(main())
    assert done == ["after"]


def test_an_error_of_the_app_passes_unchanged() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise ValueError("broken")

    with pytest.raises(ValueError, match="broken"):
        run(serve_until_gone(app, SCOPE, b"", Client().receive, Client().send))


def test_a_cancel_from_outside_is_not_swallowed() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(10)

    async def main() -> None:
        client = Client()
        task = asyncio.create_task(serve_until_gone(app, SCOPE, b"", client.receive, client.send))
        await asyncio.sleep(0.05)
        task.cancel()  # the server shutting down
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())
