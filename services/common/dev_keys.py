"""Development-only key material.

These keys are public (they are in the repository), so they only ever sign tokens on a
developer's machine or in tests. `CommonSettings` refuses to start with them outside
`development` and `test`.
"""

DEV_AUTH_PRIVATE_KEY = """-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEICMe3qfoXfG4cdELYFWz1naYPLx8VRJuVSizXXL4OFOI
-----END PRIVATE KEY-----
"""
DEV_AUTH_PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEA6TjuM+M0yJaSXzqEuvmnBBlkFCrmtUVk2u7WL6wlPnM=
-----END PUBLIC KEY-----
"""
DEV_QR_PRIVATE_KEY = """-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIAE6QInhbNRChwlVt1IB7hQau16VgbeTWTh6QhFzYe5v
-----END PRIVATE KEY-----
"""
DEV_QR_PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEArpO1CJ/BLuUkwjlWyydOZX61Ec7l1bmjtOPgpPB3HO0=
-----END PUBLIC KEY-----
"""
# The ledger's checkpoint signing key (Ed25519): signs the chain's head (docs/ledger.md).
DEV_LEDGER_CHECKPOINT_PRIVATE_KEY = """-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIOUCW/pr+m0RxCZ43RA0+OJBoYQ9TZbIuW9yWSvRXPOa
-----END PRIVATE KEY-----
"""
# 32-byte keys, hex: AES-256-GCM for personal data, HMAC-SHA256 for its lookup hash.
DEV_PII_ENCRYPTION_KEY = "dc72d0df64c7fef57e539a3db1c20b590a1d49040b2a559d4169d74f5fa21a77"
DEV_PII_HASH_KEY = "e3894256446d606a375f2e2040c6f8cf2e4aab43703ec0360163eacb66de28a0"
# Stripe: the webhook signing secret and API key the local fake (localstripe) is used with.
DEV_STRIPE_WEBHOOK_SECRET = "whsec_yiyang_local_development"
DEV_STRIPE_SECRET_KEY = "sk_test_yiyang_local"
# Not a secret, but a deployment left with it could take no payment: refused alike.
DEV_STRIPE_PUBLISHABLE_KEY = "pk_test_yiyang_local"

# The placeholder of infra/env/*.env.example, refused like a development key.
PLACEHOLDER = "CHANGE_ME"

DEV_SECRETS = {
    PLACEHOLDER,
    DEV_AUTH_PRIVATE_KEY,
    DEV_AUTH_PUBLIC_KEY,
    DEV_QR_PRIVATE_KEY,
    DEV_QR_PUBLIC_KEY,
    DEV_LEDGER_CHECKPOINT_PRIVATE_KEY,
    DEV_PII_ENCRYPTION_KEY,
    DEV_PII_HASH_KEY,
    DEV_STRIPE_WEBHOOK_SECRET,
    DEV_STRIPE_SECRET_KEY,
    DEV_STRIPE_PUBLISHABLE_KEY,
}
