"""Masks of personal data: one name is shown one way, by a service's answer and by a page."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.common.crypto import mask_name
from web import labels


def test_a_name_keeps_its_surname_and_hides_the_rest_and_its_length() -> None:
    assert mask_name("张三丰") == "张**"
    assert mask_name("欧阳") == "欧*"
    # One character shown whole would not be masked at all.
    assert mask_name("王") == "王*"
    # A long name: three stars, so the stars do not tell how long it is.
    assert mask_name("爱新觉罗溥仪") == "爱***"
    assert mask_name("  李四 ") == "李*"
    assert mask_name("") == ""


@given(st.text(min_size=0, max_size=12))
def test_the_page_and_the_services_mask_a_name_alike(name: str) -> None:
    masked = mask_name(name)
    assert labels.mask_name(name) == masked
    if name.strip():
        assert masked[0] == name.strip()[0]
        assert 1 <= masked.count("*", 1) <= 3 and len(masked) <= 4
