"""The two servers the API load benchmark drives, each in a process of its own:

    python -m bench.api_server gpucm DB       # gpucm serve on DB, as `gpucm serve` runs
    python -m bench.api_server bare ANSWERS   # FastAPI answering from memory

`gpucm` is what `gpucm serve` runs (open_services, run_server: the workers, the
middleware, the offer index), on a store with no provider configured, so nothing
refreshes the benchmark's offers away, and with the rate limit off (one client
address sends everything). `bare` is one FastAPI route on the same uvicorn settings
that answers each search with the very bytes gpucm gave for it, from a dict: the
framework and the HTTP server, and nothing else. Each prints `listening on PORT` once
it listens.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from fastapi import FastAPI, Request
from starlette.responses import Response

from gpucm.api.api_settings import ApiSettings


def settings() -> ApiSettings:
    return ApiSettings(port=0, rate_limit_enabled=False, log_level="WARNING")


def announce(line: str) -> None:
    port = line.rsplit(":", 1)[1].split(" ", 1)[0].split(";", 1)[0]
    print(f"listening on {port}", flush=True)


async def serve_gpucm(db: Path) -> int:
    from gpucm.api.server import run_server
    from gpucm.services import open_services

    services = await open_services(db=db, demo=False)
    try:
        await services.store.wait_for_index()  # as a server that has run a while
        return await run_server(services, settings(), on_listening=announce)
    finally:
        await services.aclose()


def bare_app(answers: dict[str, bytes]) -> FastAPI:
    app = FastAPI()

    @app.get("/api/v1/offers/search")
    async def search(request: Request) -> Response:
        return Response(answers[request.url.query], media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b'{"success":true}', media_type="application/json")

    return app


async def serve_bare(answers: dict[str, bytes]) -> int:
    from gpucm.api.server import Server, uvicorn_config

    config = uvicorn_config(bare_app(answers), settings(), access_log=False)
    server = Server(config, lambda host, port: print(f"listening on {port}", flush=True))
    await server.serve()
    return 0


def main(argv: list[str]) -> int:
    kind, path = argv
    if kind == "gpucm":
        return asyncio.run(serve_gpucm(Path(path)))
    answers = {q: body.encode() for q, body in json.loads(Path(path).read_text()).items()}
    return asyncio.run(serve_bare(answers))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
