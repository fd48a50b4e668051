"""Interop upstream: a real Python MCP SDK server (`mcp` on PyPI), Streamable HTTP, both eras.

    python server.py <port>

Serves /mcp on 127.0.0.1:<port> with two tools (`echo`, `delete_everything`), and prints
`listening` once it accepts connections. It answers a legacy DELETE `200` with an empty
`application/json` body, which is what the gateway must relay as success.
"""

from __future__ import annotations

import socket
import sys
import threading
import time

from mcp.server.mcpserver import MCPServer

server = MCPServer("portcullis-interop-python-server")


@server.tool()
def echo(text: str) -> str:
    """Returns its text."""
    return text


@server.tool()
def delete_everything() -> str:
    """A destructive tool the gateway's fixture policy denies."""
    return "deleted"


def announce(port: int) -> None:
    # uvicorn prints to stderr in its own format: tell the test plainly when the port accepts.
    for _ in range(600):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                print("listening", flush=True)
                return
        except OSError:
            time.sleep(0.05)


if __name__ == "__main__":
    port = int(sys.argv[1])
    threading.Thread(target=announce, args=(port,), daemon=True).start()
    server.run(transport="streamable-http", host="127.0.0.1", port=port)
