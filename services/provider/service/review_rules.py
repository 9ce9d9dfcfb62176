"""The review of a provider's application and its later status, as pure rules (no I/O).

The steps (the URL's action, the status it leads to, who may take it):

| action            | to                | from                       | who                          |
| ----------------- | ----------------- | -------------------------- | ---------------------------- |
| `approve`         | approved          | applied, suspended         | officer of the region        |
| `request-changes` | changes_requested | applied                    | officer of the region        |
| `refuse`          | refused (final)   | applied, changes_requested | officer of the region        |
| `resubmit`        | applied           | changes_requested          | the provider's admin, or the |
|                   |                   |                            | officer of the region        |
| `suspend`         | suspended         | approved                   | officer of the region        |
| `revoke`          | revoked (final)   | approved, suspended        | officer of the region        |

Which steps a status allows is `vocabulary.TRANSITIONS` (the database's trigger keeps the same
table); a step the status does not allow is ILLEGAL_TRANSITION (409), a step the caller's
role may not take is ROLE_NOT_ALLOWED (403).

Licence documents (营业执照, 食品经营许可证, ...) are judged by their content, not their name:
`sniff` reads the first bytes (PDF, JPEG, PNG), and a file over the size limit is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from services.provider.service.vocabulary import FINAL_STATUSES, TRANSITIONS, ProviderStatus


@dataclass(frozen=True)
class Step:
    target: ProviderStatus
    # The provider's own admin may take it (else officers only).
    by_provider: bool = False
    # The reason the caller must give (a resubmission may come without one).
    reason_required: bool = True


STEPS: dict[str, Step] = {
    "approve": Step(ProviderStatus.approved),
    "request-changes": Step(ProviderStatus.changes_requested),
    "refuse": Step(ProviderStatus.refused),
    "resubmit": Step(ProviderStatus.applied, by_provider=True, reason_required=False),
    "suspend": Step(ProviderStatus.suspended),
    "revoke": Step(ProviderStatus.revoked),
}

# What a resubmission without a note records as its reason.
RESUBMIT_REASON = "已按要求修改，重新提交审核"


def is_allowed(current: str, action: str) -> bool:
    """Does the provider's current status allow this step?"""
    step = STEPS[action]
    return step.target in TRANSITIONS[ProviderStatus(current)]


def allowed_actions(current: str, *, officer: bool) -> list[str]:
    """The steps the current status allows to an officer of the region (`officer`) or to the
    provider's own admin, in the order of `STEPS`: what a page offers and nothing else."""
    return [
        action
        for action, step in STEPS.items()
        if is_allowed(current, action) and (officer or step.by_provider)
    ]


def is_final(status: str) -> bool:
    """Refused and revoked providers never change again (documents, profile, status)."""
    return status in FINAL_STATUSES


class DocumentKind(StrEnum):
    business_licence = "business_licence"  # 营业执照
    food_licence = "food_licence"  # 食品经营许可证
    institution_registration = "institution_registration"  # 养老机构备案回执 / 登记证书
    fire_safety = "fire_safety"  # 消防验收 / 安全检查合格证明
    other = "other"  # 其他证明材料


# The content types accepted, each recognised by its leading bytes.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)

EXTENSIONS = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}


def sniff(content: bytes) -> str | None:
    """The content type of a licence document by its first bytes (PDF, JPEG, PNG), or None
    for anything else, whatever its name or declared type says."""
    for magic, content_type in _MAGIC:
        if content.startswith(magic):
            return content_type
    return None


def safe_filename(name: str | None, content_type: str) -> str:
    """The name kept and offered on download: the uploaded name without any directory part or
    control characters, at most 100 characters, ending in the extension of its real type."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable() and ch not in '"<>:|?*').strip(". ")
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return f"{(stem or 'document')[:95]}.{EXTENSIONS[content_type]}"
