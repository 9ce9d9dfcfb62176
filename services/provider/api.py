"""Routes of the provider service. Rules are in service.py; this file only maps HTTP to them."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1")
