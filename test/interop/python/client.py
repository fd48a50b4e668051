"""Interop client: the real Python MCP SDK (`mcp` on PyPI) against one MCP endpoint.

    python client.py <url> <legacy|2026-07-28> [flows]

`flows` (comma-separated, default all) picks which of list, call, masked, denial, progress,
elicitation, cancel run (an upstream without the `slow` and `ask_user` tools gets a subset).

Runs every flow the gateway's interop test checks and prints one JSON object per flow on stdout
(`{"flow": ..., ...}`), then `{"flow": "done"}`. It reports what it saw; the test decides what
is right (through the gateway a result is masked, direct it is not). A flow that raises reports
`{"flow": ..., "exception": ...}` and the next flow still runs. Every HTTP exchange is recorded
(method, status, Mcp-Method) so the test can see DELETE and notifications/cancelled answers.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any

import anyio
import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

SECRET_EMAIL = "ada@example.com"


def emit(flow: str, **fields: Any) -> None:
    print(json.dumps({"flow": flow, **fields}), flush=True)


def texts(result: types.CallToolResult) -> list[str]:
    return [c.text for c in result.content if isinstance(c, types.TextContent)]


async def flow(name: str, body) -> None:
    try:
        await body()
    except MCPError as err:
        emit(name, error={"code": err.code, "message": err.message})
    except Exception as err:  # noqa: BLE001 - reported, the test decides
        emit(name, exception=f"{type(err).__name__}: {err}", trace=traceback.format_exc(limit=3))


async def main(url: str, mode: str, wanted: set[str] | None) -> None:
    http: list[dict[str, Any]] = []

    async def on_response(response: httpx2.Response) -> None:
        request = response.request
        http.append({"method": request.method, "status": response.status_code, "mcp_method": request.headers.get("mcp-method")})

    elicited: list[str] = []

    async def elicit(_context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        elicited.append(params.message)
        return types.ElicitResult(action="accept", content={"answer": "forty-two"})

    http_client = httpx2.AsyncClient(event_hooks={"response": [on_response]}, timeout=httpx2.Timeout(20.0))
    client = Client(
        streamable_http_client(url, http_client=http_client),
        mode=mode,
        elicitation_callback=elicit,
        client_info=types.Implementation(name="portcullis-interop-python", version="1"),
        read_timeout_seconds=20,
    )
    try:
        async with client:
            emit("connect", protocolVersion=client.protocol_version)

            async def list_tools() -> None:
                emit("list", tools=sorted(t.name for t in (await client.list_tools()).tools))

            async def call() -> None:
                emit("call", texts=texts(await client.call_tool("echo", {"text": "through the gate"})))

            async def masked() -> None:
                emit("masked", texts=texts(await client.call_tool("echo", {"text": f"write to {SECRET_EMAIL}"})))

            async def denial() -> None:
                result = await client.call_tool("delete_everything", {})
                emit("denial", texts=texts(result), isError=result.is_error)

            async def progress() -> None:
                seen: list[float] = []

                async def on_progress(value: float, _total: float | None, _message: str | None) -> None:
                    seen.append(value)

                result = await client.call_tool("slow", {"ms": 300, "steps": 3}, progress_callback=on_progress)
                emit("progress", progress=seen, texts=texts(result))

            async def elicitation() -> None:
                result = await client.call_tool("ask_user", {"question": "the answer?"})
                emit("elicitation", texts=texts(result), elicited=len(elicited))

            async def cancellation() -> None:
                started = anyio.Event()

                async def on_progress(_value: float, _total: float | None, _message: str | None) -> None:
                    started.set()

                outcome: dict[str, Any] = {"cancelled": False}
                async with anyio.create_task_group() as tg:

                    async def slow_call() -> None:
                        with anyio.CancelScope() as scope:
                            outcome["scope"] = scope
                            await client.call_tool("slow", {"ms": 8000, "steps": 80}, progress_callback=on_progress)
                            outcome["completed"] = True
                        outcome["cancelled"] = scope.cancelled_caught

                    tg.start_soon(slow_call)
                    with anyio.fail_after(10):
                        await started.wait()
                    outcome["scope"].cancel()
                after = texts(await client.call_tool("echo", {"text": "after cancel"}))
                emit("cancel", cancelled=outcome["cancelled"], completed=outcome.get("completed", False), after=after)

            for name, body in [
                ("list", list_tools), ("call", call), ("masked", masked), ("denial", denial),
                ("progress", progress), ("elicitation", elicitation), ("cancel", cancellation),
            ]:
                if wanted is None or name in wanted:
                    await flow(name, body)
            # Give the courtesy notifications/cancelled time to be answered before the log is read.
            await anyio.sleep(0.2)
            emit("http-before-close", http=list(http))
    except Exception as err:  # noqa: BLE001
        emit("connect", exception=f"{type(err).__name__}: {err}", trace=traceback.format_exc(limit=5))
    finally:
        await http_client.aclose()
    # Leaving the client ended the session: a legacy client sends DELETE.
    emit("delete", statuses=[h["status"] for h in http if h["method"] == "DELETE"])
    emit("http", http=http)
    emit("done")


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2], set(sys.argv[3].split(",")) if len(sys.argv) > 3 else None)
