"""A files-layout bundle reads only its own files: a link to a file outside the folder is
refused (a pull request could otherwise make CI quote a runner's secret in a plan's errors);
a link that stays inside the folder reads as the file it points at."""

from __future__ import annotations

from pathlib import Path

import pytest

from decisionform.bundle.load import load_bundle
from decisionform.errors import ParseError

CATEGORY = "apiVersion: decisionform/v1\nkind: Category\nmetadata: {name: Cards}\n"


def test_a_link_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.yaml"
    secret.write_text("token: hunter2\n", encoding="utf-8")
    bundle = tmp_path / "bundle"
    (bundle / "categories").mkdir(parents=True)
    (bundle / "categories" / "cards.yaml").write_text(CATEGORY, encoding="utf-8")
    (bundle / "categories" / "evil.yaml").symlink_to(secret)
    with pytest.raises(ParseError) as caught:
        load_bundle(bundle)
    message = str(caught.value)
    assert "categories/evil.yaml is a link to a file outside" in message
    assert "hunter2" not in message


def test_a_link_inside_the_folder_reads_as_its_target(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    (bundle / ".shared").mkdir(parents=True)  # hidden: not read by itself
    (bundle / "categories").mkdir()
    (bundle / ".shared" / "cards.yaml").write_text(CATEGORY, encoding="utf-8")
    (bundle / "categories" / "cards.yaml").symlink_to(bundle / ".shared" / "cards.yaml")
    assert [(r.kind, r.name) for r in load_bundle(bundle).resources] == [("Category", "Cards")]


@pytest.mark.parametrize("loop", ["self", "pair"])
def test_a_loop_of_links_is_a_located_error(tmp_path: Path, loop: str) -> None:
    bundle = tmp_path / "bundle"
    (bundle / "categories").mkdir(parents=True)
    (bundle / "categories" / "cards.yaml").write_text(CATEGORY, encoding="utf-8")
    looped = bundle / "categories" / "x.yaml"
    if loop == "self":
        looped.symlink_to(looped)
    else:
        other = bundle / "categories" / "y.yaml"
        looped.symlink_to(other)
        other.symlink_to(looped)
    with pytest.raises(ParseError, match=r"categories/x\.yaml is a link that never reaches a file"):
        load_bundle(bundle)
