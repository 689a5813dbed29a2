"""Did-you-mean suggestions for misspelt keys, kinds and names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# difflib's default cut-off (0.6) lets unrelated short words match; 0.6 on the
# lower-cased forms still catches one-letter slips such as resource/resources.
_CUTOFF = 0.6


def did_you_mean(word: str, options: Iterable[str]) -> str | None:
    """The option closest to ``word`` (case-insensitive), or None if none is close.

    An option equal to ``word`` apart from case wins outright: ``offer`` -> ``Offer``.
    """
    by_folded: dict[str, str] = {}
    for option in options:
        if isinstance(option, str):
            # The first spelling of a case-folded form wins, so the result is stable.
            by_folded.setdefault(option.casefold(), option)
    if not by_folded or not isinstance(word, str):
        return None
    folded = word.casefold()
    if folded in by_folded:
        return by_folded[folded]
    close = difflib.get_close_matches(folded, list(by_folded), n=1, cutoff=_CUTOFF)
    return by_folded[close[0]] if close else None
