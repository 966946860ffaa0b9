"""Unknown keywords refused by the public call's own name, with the closest known keyword."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def unknown_keyword(call: str, name: str, known: Iterable[str]) -> TypeError:
    """The TypeError for ``call(name=...)``: ``Flash() got an unexpected keyword argument
    'resume_grase'; did you mean 'resume_grace'?``"""
    close = difflib.get_close_matches(name, sorted(set(known)), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return TypeError(f"{call}() got an unexpected keyword argument {name!r}{hint}")


def check_keywords(call: str, given: Iterable[str], known: Iterable[str]) -> None:
    """Raise ``unknown_keyword`` for the first of ``given`` not in ``known``."""
    known = set(known)
    for name in given:
        if name not in known:
            raise unknown_keyword(call, name, known)
