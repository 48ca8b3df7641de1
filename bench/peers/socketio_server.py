"""The python-socketio peer of the benchmark (`bench/loadgen.py --target socketio`).

`socketio.AsyncServer` with `AsyncRedisManager` on uvicorn: every room emit is published
to Redis and delivered from Redis, so the same workload would work across any number of
nodes. The workload is ours: a visitor and an agent join the room of their conversation
(`join`, acked), and each `msg` is relayed to the rest of the room and acked to its sender.
uvicorn runs as ours does: uvloop, httptools, websockets' sans-I/O protocol, no
permessage-deflate.

    python bench/peers/socketio_server.py --port 8002 --redis redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
from importlib.metadata import version
from typing import Any

import socketio
import uvicorn


def build(redis_url: str, channel: str) -> Any:
    sio = socketio.AsyncServer(
        async_mode="asgi",
        client_manager=socketio.AsyncRedisManager(redis_url, channel=channel),
        cors_allowed_origins="*",
        transports=["websocket"],
        max_http_buffer_size=2 * 1024 * 1024,
    )

    @sio.on("join")
    async def join(sid: str, room: Any) -> dict[str, bool]:
        await sio.enter_room(sid, str(room))
        return {"ok": True}

    @sio.on("msg")
    async def msg(sid: str, data: dict[str, Any]) -> dict[str, bool]:
        await sio.emit("msg", data, room=str(data["room"]), skip_sid=sid)
        return {"ok": True}

    async def health(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok\n"})
        elif scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    print(
                        f"ready python-socketio {version('python-socketio')} on port {PORT}",
                        flush=True,
                    )
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    return socketio.ASGIApp(sio, other_asgi_app=health)


PORT = 0


def main() -> None:
    global PORT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--channel", default="socketio")
    args = parser.parse_args()
    PORT = args.port
    uvicorn.run(
        build(args.redis, args.channel),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        ws_max_size=2 * 1024 * 1024,
        lifespan="on",
        log_level="warning",
    )


if __name__ == "__main__":
    main()
