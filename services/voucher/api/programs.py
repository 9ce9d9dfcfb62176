"""Routes: programs."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["programs"])
