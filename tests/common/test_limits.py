"""Oversized bodies are refused with 413 before they are parsed; 405 names what is allowed."""

from __future__ import annotations

from fastapi import APIRouter, File, UploadFile
from pydantic import BaseModel

from services.common.app import create_service_app
from services.common.db import Database
from services.common.limits import MIB
from services.common.settings import get_common_settings
from tests.conftest import running

seen: list[int] = []


class Note(BaseModel):
    text: str


def build(url: str):
    router = APIRouter()

    @router.post("/v1/notes")
    async def add(note: Note) -> dict[str, int]:
        seen.append(len(note.text))
        return {"length": len(note.text)}

    @router.post("/v1/files")
    async def upload(file: UploadFile = File(...)) -> dict[str, int]:
        data = await file.read()
        seen.append(len(data))
        return {"size": len(data)}

    async def database() -> Database:
        return Database(url)

    return create_service_app(
        name="provider", title="t", description="t", database=database, routers=[router]
    )


async def test_a_body_over_the_limit_is_refused_before_it_is_parsed(make_db):
    limit = get_common_settings().max_body_bytes
    sdb = await make_db("provider")
    seen.clear()
    async with running(build(sdb.app_url)) as client:
        ok = await client.post("/v1/notes", json={"text": "x" * 1000})
        assert ok.status_code == 200
        big = await client.post("/v1/notes", json={"text": "x" * (limit + 10)})
        assert big.status_code == 413
        assert big.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"

        async def chunks():  # no Content-Length: counted as it arrives
            yield b'{"text": "'
            for _ in range(limit // 65536 + 2):
                yield b"x" * 65536
            yield b'"}'

        streamed = await client.post(
            "/v1/notes", content=chunks(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413
        assert streamed.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
        # A file upload may be larger than a JSON body, up to its own limit.
        upload = await client.post(
            "/v1/files", files={"file": ("a.csv", b"y" * (limit + MIB), "text/csv")}
        )
        assert upload.status_code == 200
    assert seen == [1000, limit + MIB]  # the refused bodies never reached a route


async def test_a_wrong_method_says_which_are_allowed(make_db):
    sdb = await make_db("provider")
    async with running(build(sdb.app_url)) as client:
        r = await client.get("/v1/notes")
        assert r.status_code == 405
        assert r.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
        assert r.headers["allow"] == "POST"
