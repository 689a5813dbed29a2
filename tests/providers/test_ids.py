"""Row ids: the prefix and 20 characters of RFC 4648 base32 (lower case), 100 random bits."""

from __future__ import annotations

import base64
import random
import re

import pytest

from decisionform.providers import layout

_SEEDED = random.Random(20261204)  # the same inputs in every pytest worker


@pytest.mark.parametrize("raw", [bytes(13), b"\xff" * 13, bytes(range(13)), *(_SEEDED.randbytes(13) for _ in range(50))])
def test_ids_are_base32_of_the_random_bytes(monkeypatch: pytest.MonkeyPatch, raw: bytes) -> None:
    monkeypatch.setattr(layout.secrets, "token_bytes", lambda n: raw[:n])
    expected = "off_" + base64.b32encode(raw).decode("ascii")[:20].lower()  # the encoding, worked out by base64
    assert layout.make_id("off") == expected


def test_ids_differ_and_keep_their_shape() -> None:
    ids = {layout.make_id("cre") for _ in range(2000)}
    assert len(ids) == 2000
    assert all(re.fullmatch(r"cre_[a-z2-7]{20}", i) for i in ids)
