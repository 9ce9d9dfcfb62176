import time

import httpx
import pytest
from fastapi import FastAPI

from services.common.auth import (
    Principal,
    Role,
    hash_terminal_secret,
    issue_token,
    new_terminal_secret,
    require,
    terminal_id_of,
    verify_token,
)
from services.common.dev_keys import DEV_AUTH_PRIVATE_KEY, DEV_AUTH_PUBLIC_KEY
from services.common.errors import AppError, install_error_handlers
from services.common.settings import CommonSettings


def test_token_round_trip_carries_role_and_scope():
    token = issue_token(DEV_AUTH_PRIVATE_KEY, role="proxy", sub="p1", beneficiary_ids=["b1", "b2"])
    p = verify_token(DEV_AUTH_PUBLIC_KEY, token)
    assert p.role is Role.proxy and p.beneficiary_ids == ("b1", "b2")
    assert p.may_act_for("b2") and not p.may_act_for("b3")


def test_expired_and_forged_tokens_are_refused():
    old = issue_token(DEV_AUTH_PRIVATE_KEY, role="auditor", ttl_s=10, now=time.time() - 100)
    with pytest.raises(AppError) as e:
        verify_token(DEV_AUTH_PUBLIC_KEY, old)
    assert e.value.code == "BEARER_TOKEN_EXPIRED"
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other = (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    forged = issue_token(other, role="auditor")
    with pytest.raises(AppError) as e:
        verify_token(DEV_AUTH_PUBLIC_KEY, forged)
    assert e.value.code == "BEARER_TOKEN_INVALID"


def test_region_scope_covers_sub_regions_only():
    officer = Principal(sub="o", role=Role.civil_affairs, region="450100")
    assert officer.covers_region("450103001")
    assert not officer.covers_region("450200")
    with pytest.raises(AppError) as e:
        officer.ensure_region("450300")
    assert e.value.status_code == 403 and e.value.code == "OUT_OF_SCOPE"


def test_terminal_secret_names_its_terminal_and_hashes_stably():
    secret = new_terminal_secret("0192d1b2-aaaa-7bbb-8ccc-123456789abc")
    assert terminal_id_of(secret) == "0192d1b2-aaaa-7bbb-8ccc-123456789abc"
    assert hash_terminal_secret(secret) == hash_terminal_secret(secret)
    assert terminal_id_of("eyJhbGciOi.x.y") is None


async def test_require_refuses_wrong_role_and_missing_token():
    app = FastAPI()
    app.state.auth_public_key = DEV_AUTH_PUBLIC_KEY
    install_error_handlers(app)

    @app.get("/finance-only")
    async def finance_only(p: Principal = require(Role.finance)) -> dict:
        return {"sub": p.sub}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.get("/finance-only")
        assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHENTICATED"
        tok = issue_token(DEV_AUTH_PRIVATE_KEY, role="auditor")
        r = await c.get("/finance-only", headers={"Authorization": f"Bearer {tok}"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
        tok = issue_token(DEV_AUTH_PRIVATE_KEY, role="finance", sub="f1")
        r = await c.get("/finance-only", headers={"Authorization": f"Bearer {tok}"})
        assert r.status_code == 200 and r.json() == {"sub": "f1"}


def test_development_keys_are_refused_in_production(monkeypatch):
    with pytest.raises(ValueError, match="development secrets"):
        CommonSettings(env="production")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    priv = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    pub = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    assert CommonSettings(env="production", auth_private_key=priv, auth_public_key=pub)
