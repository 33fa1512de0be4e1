"""A client that goes away cancels its request, wherever the request is.

Once a request's body is read, the next message the server has for the app is
``http.disconnect``: the client closed the connection (or the response is complete).
:func:`serve_until_gone` listens for it while the app runs, and when the client leaves
before its answer is complete it cancels the app's work at once: a request waiting in
the scheduler's queue (for a load, for room, for a slot) gives its place up, a running
generation or embedding is cancelled in the runner (within one step or one embedding
batch), a gathered answer stops gathering. Without it, only a streamed answer would
notice, at its next write; a request still queued, or an embedding of 200,000 texts,
would run to its end for nobody and hold up everything queued behind it.

The app still sees ``http.disconnect`` when it asks (streamed responses listen for it),
and the metrics middleware, which reads the messages on their way, counts the request
as 499.
"""

from __future__ import annotations

import asyncio
import contextlib

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send


async def serve_until_gone(
    app: ASGIApp, scope: Scope, body: bytes, receive: Receive, send: Send
) -> None:
    """Run ``app`` on a request whose ``body`` was read already; cancel it if the client
    disconnects before the response is complete."""
    gone = asyncio.Event()
    complete = False
    body_sent = False

    async def app_receive() -> Message:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def app_send(message: Message) -> None:
        nonlocal complete
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            complete = True
        await send(message)

    with anyio.CancelScope() as cancelled:

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass  # nothing else comes after the body; tolerate it all the same
            gone.set()
            if not complete:
                cancelled.cancel()

        watcher = asyncio.create_task(watch(), name="ladle-disconnect-watch")
        try:
            await app(scope, app_receive, app_send)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
