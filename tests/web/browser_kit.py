"""Helpers of the browser walk (tests/web/test_browser.py): apps served by uvicorn on free
ports, a fake-camera video of a QR code, reading the QR on screen, waiting, and the bank's
confirmation of a payment file."""

from __future__ import annotations

import asyncio
import csv
import io
import socket
import time
from pathlib import Path
from typing import Any

import uvicorn

from services.voucher.service import qr as qr_image

ROOT = Path(__file__).resolve().parents[2]
JSQR = ROOT / "web" / "static" / "vendor" / "jsQR.js"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """Apps served by uvicorn on free ports in this event loop (lifespans are run by the
    system fixture already)."""

    def __init__(self) -> None:
        self.servers: list[tuple[uvicorn.Server, asyncio.Task]] = []

    async def serve(self, app: Any) -> str:
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        )
        task = asyncio.create_task(server.serve())
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.05)
        assert server.started, "uvicorn did not start"
        self.servers.append((server, task))
        return f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        for server, _ in self.servers:
            server.should_exit = True
        for _, task in self.servers:
            await asyncio.wait_for(task, 15)


def y4m_of_qr(text: str, path: Path) -> None:
    """A short 4:2:0 video whose every frame shows the QR code (for the fake camera)."""
    from PIL import Image

    qr = Image.open(io.BytesIO(qr_image.png(text))).convert("L")
    w, h = 640, 480
    frame = Image.new("L", (w, h), 255)
    side = min(440, max(qr.size[0], 300))
    frame.paste(qr.resize((side, side), Image.NEAREST), ((w - side) // 2, (h - side) // 2))
    y = frame.tobytes()
    uv = bytes([128]) * (w // 2 * h // 2)
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F5:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(5):
            f.write(b"FRAME\n" + y + uv + uv)


async def read_qr(page) -> str:
    """What the QR picture on screen says, read in the page with the vendored jsQR."""
    await page.add_script_tag(path=str(JSQR))
    return await page.evaluate("""() => {
        const img = document.getElementById('qr-img');
        const c = document.createElement('canvas');
        c.width = 640; c.height = 640;
        const g = c.getContext('2d');
        g.fillStyle = '#fff'; g.fillRect(0, 0, 640, 640);
        g.drawImage(img, 0, 0, 640, 640);
        const data = g.getImageData(0, 0, 640, 640);
        const code = jsQR(data.data, 640, 640);
        return code ? code.data : null;
    }""")


async def until(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


def bank_confirmation(instruction: bytes) -> bytes:
    """What the bank sends back for an instruction file when it paid every line."""
    rows = list(csv.DictReader(io.StringIO(instruction.decode("utf-8"))))
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["batch_reference", "line_reference", "status", "amount_fen", "bank_reference"])
    for n, r in enumerate(rows, 1):
        w.writerow(
            [r["batch_reference"], r["line_reference"], "paid", r["amount_fen"], f"BANK{n:06d}"]
        )
    return out.getvalue().encode("utf-8")
