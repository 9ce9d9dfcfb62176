"""GB 32100-2015 check character: real published codes, constructed codes, and refusals."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.provider.service import uscc

# Published codes of well-known organisations, and the example of the standard itself.
REAL_CODES = [
    "91350100M000100Y43",  # the worked example used in GB 32100-2015 material
    "9144030071526726XG",  # 深圳市腾讯计算机系统有限公司
    "914403001922038216",  # 华为技术有限公司
    "91330100716105852F",  # 阿里巴巴（中国）有限公司
]


@pytest.mark.parametrize("code", REAL_CODES)
def test_real_codes_are_valid(code):
    assert uscc.problem(code) is None


@pytest.mark.parametrize("code", REAL_CODES)
def test_any_other_check_character_is_refused(code):
    for ch in uscc.ALPHABET:
        if ch != code[-1]:
            assert uscc.problem(code[:-1] + ch) == "the check character does not match"


def test_a_constructed_code_carries_the_computed_check_character():
    body = "12450100MB0000001"
    code = body + uscc.check_character(body)
    assert uscc.is_valid(code)
    # The check character of 91350100M000100Y4 is 3, as in the standard's example.
    assert uscc.check_character("91350100M000100Y4") == "3"


@pytest.mark.parametrize(
    "code, why",
    [
        ("", "must be 18 characters"),
        ("91350100M000100Y4", "must be 18 characters"),
        ("91350100M000100Y433", "must be 18 characters"),
        ("91350100M000100I43", "may hold only"),  # I is not in the alphabet
        ("91350100m000100y43", "may hold only"),  # lower case
        ("913501O0M000100Y43", "may hold only"),  # letter O, not zero
        ("9135A100M000100Y43", "characters 3 to 8"),
        (None, "must be 18 characters"),
    ],
)
def test_malformed_codes_are_refused(code, why):
    assert why in uscc.problem(code)


def test_swapping_two_characters_is_caught():
    # Weights differ at every position and 31 is prime, so any transposition of two
    # different characters changes the sum.
    for code in REAL_CODES:
        for i in range(8, 16):
            if code[i] != code[i + 1]:
                swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
                assert not uscc.is_valid(swapped)


@given(
    st.text(alphabet=uscc.ALPHABET[:10], min_size=6, max_size=6),
    st.text(alphabet=uscc.ALPHABET, min_size=11, max_size=11),
    st.integers(min_value=0, max_value=16),
    st.sampled_from(uscc.ALPHABET),
)
def test_every_single_character_change_is_caught(region, rest, position, replacement):
    body = rest[:2] + region + rest[2:]
    code = body + uscc.check_character(body)
    assert uscc.is_valid(code)
    if code[position] != replacement:
        changed = code[:position] + replacement + code[position + 1 :]
        if changed[2:8].isdigit():
            assert not uscc.is_valid(changed)
