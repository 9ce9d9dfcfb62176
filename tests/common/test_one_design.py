"""The one design, held: SQL is written as text only in the named hot-path modules (and in
what builds databases: migrations and the migration helper); everything else builds its SQL
with SQLAlchemy from the models (CONTRIBUTING.md, "How a request reaches the database")."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SQL = re.compile(
    r"^\s*(SELECT|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|WITH\s+\w+\s+AS)\b", re.I
)
# Raw SQL lives here and nowhere else.
HOT_PATH = {
    "services/voucher/repository/redemption.py",  # the redemption, its explanation, the relay
    "services/ledger/repository/posting.py",  # the ledger's posting
}
BUILDS_DATABASES = {"services/common/migrate.py"}


def _sql_strings(path: Path) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.match(node.value):
            lines.append(node.lineno)
        elif isinstance(node, ast.JoinedStr):
            head = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
            if SQL.match(head):
                lines.append(node.lineno)
    return lines


def test_sql_text_only_in_the_hot_path_modules():
    found = {}
    for folder in ("services", "web"):
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if "/migrations/" in rel or rel in HOT_PATH | BUILDS_DATABASES:
                continue
            if lines := _sql_strings(path):
                found[rel] = lines
    assert found == {}, f"SQL written as text outside the hot-path modules: {found}"


def test_the_hot_path_modules_exist_and_hold_their_statements():
    for rel in HOT_PATH:
        assert _sql_strings(ROOT / rel), rel
