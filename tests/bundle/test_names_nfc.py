"""Names are one name after NFC normalisation, and so are the references to them."""

from __future__ import annotations

import unicodedata
from pathlib import Path

from support import CliEnv

COMPOSED = unicodedata.normalize("NFC", "Café Cards")
DECOMPOSED = unicodedata.normalize("NFD", "Café Cards")


def test_reference_written_decomposed_finds_the_composed_name(cli: CliEnv, tmp_path: Path) -> None:
    assert COMPOSED != DECOMPOSED
    bundle = tmp_path / "nfc.yaml"
    bundle.write_text(f"""resources:
  - {{kind: Category, metadata: {{name: "{COMPOSED}"}}}}
  - kind: Offer
    metadata: {{name: Gold}}
    spec: {{category: "{DECOMPOSED}"}}
""", encoding="utf-8")
    cli.ok("validate", bundle)
    assert cli.summary("plan", bundle)["created"] == 2
    cli.ok("apply", bundle, "--auto-approve")
    offer = cli.exported()[("Offer", "Gold")]
    assert offer["spec"]["category"] == COMPOSED
    assert cli.run("plan", bundle, "--detailed-exitcode").code == 0
