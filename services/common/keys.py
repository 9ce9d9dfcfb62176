"""Key material: loading the PEM keys settings hold, and `yiyang keys` to make fresh ones.

Settings carry Ed25519 keys as PEM text. An environment file holds one line per variable, so
a PEM may also be written on one line with its line breaks as the two characters `\\n`; both
forms load the same key. `yiyang keys` prints a fresh set of every secret a production
deployment needs, in that one-line form and single-quoted (systemd's EnvironmentFile and shells then take
the value literally), ready for the files in infra/env/.
"""

from __future__ import annotations

import argparse
import secrets
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def _pem_bytes(pem: str) -> bytes:
    return pem.replace("\\n", "\n").strip().encode() + b"\n"


@lru_cache(maxsize=16)
def load_private_key(pem: str) -> Any:
    return serialization.load_pem_private_key(_pem_bytes(pem), password=None)


@lru_cache(maxsize=16)
def load_public_key(pem: str) -> Any:
    return serialization.load_pem_public_key(_pem_bytes(pem))


def ed25519_pair() -> tuple[str, str]:
    """A fresh Ed25519 key pair as (private PEM, public PEM)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def one_line(pem: str) -> str:
    return pem.strip().replace("\n", "\\n")


def generate() -> dict[str, str]:
    """Every secret of a deployment, by environment variable, freshly generated. Stripe's
    keys and webhook secret come from Stripe's dashboard and are not made here."""
    auth_private, auth_public = ed25519_pair()
    qr_private, qr_public = ed25519_pair()
    checkpoint_private, _ = ed25519_pair()
    out = {
        "YIYANG_AUTH_PRIVATE_KEY": one_line(auth_private),
        "YIYANG_AUTH_PUBLIC_KEY": one_line(auth_public),
        "YIYANG_VOUCHER_QR_PRIVATE_KEY": one_line(qr_private),
        "YIYANG_VOUCHER_QR_PUBLIC_KEY": one_line(qr_public),
        "YIYANG_LEDGER_CHECKPOINT_PRIVATE_KEY": one_line(checkpoint_private),
        "YIYANG_WEB_SESSION_SECRET": secrets.token_urlsafe(48),
    }
    for service in ("VOUCHER", "PROVIDER", "LEDGER", "WEB"):
        out[f"YIYANG_{service}_PII_ENCRYPTION_KEY"] = secrets.token_hex(32)
        out[f"YIYANG_{service}_PII_HASH_KEY"] = secrets.token_hex(32)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="yiyang keys",
        description="Print fresh secrets for a production deployment "
        "(one VAR='value' line each; keep them in the secrets store, never in git).",
    )
    parser.parse_args(argv)
    for name, value in generate().items():
        print(f"{name}='{value}'")
    return 0
