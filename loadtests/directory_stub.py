"""A stand-in for the provider directory, for runs on a build whose provider service does not
publish `GET /v1/internal/directory` yet.

It serves exactly the contract of docs/architecture.md ("Provider directory") from a JSON
file the seeding step writes (providers with kind, status and price list; terminals with the
SHA-256 of their secret), re-read on every poll. The harness starts it in place of the
provider service only when the provider build lacks the route; with the real provider
service, seeding goes through its API instead. Run: `uvicorn loadtests.directory_stub:app`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from fastapi import FastAPI, Query

app = FastAPI(title="Yiyang provider directory (load-test stand-in)")


def _file() -> Path:
    return Path(os.environ.get("YIYANG_LOAD_DIRECTORY", "reports/directory.json"))


@app.get("/healthz")
@app.get("/readyz")
async def ready() -> dict:
    return {"status": "ok", "service": "provider-directory-stub"}


@app.get("/v1/internal/directory")
async def directory(since: int = Query(0, ge=0)) -> dict:
    """Everything when `since` is older than the file, nothing new otherwise."""
    path = _file()
    if not path.exists():
        return {"version": 0, "providers": [], "terminals": []}
    data = json.loads(path.read_text())
    version = int(data.get("version", 1))
    if since >= version:
        return {"version": version, "providers": [], "terminals": []}
    return {"version": version, "providers": data["providers"], "terminals": data["terminals"]}
