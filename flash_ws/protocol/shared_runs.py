"""Which runs of a session a shared store (Redis) knows, and where the frames of the others start:
a page must never see a frame of a run that a worker taking the session over would not know to end
(docs/protocol.md, "Frames sent before Redis holds them")."""

from __future__ import annotations


class SharedRuns:
    """``share(run)`` says the store knows the runs up to ``run``; ``note`` is told of every frame;
    ``first_unknown`` is the first frame of a run the store does not know (None: none). Until the
    first ``share`` there is no shared store and nothing is held back."""

    def __init__(self) -> None:
        self._known: int | None = None
        self._unknown: dict[int, int] = {}  # runs above ``_known`` that have frames: run -> first frame's seq

    def note(self, run: int, seq: int) -> None:
        if self._known is not None and run > self._known and run not in self._unknown:
            self._unknown[run] = seq

    def share(self, run: int) -> None:
        self._known = run
        for later in [later for later in self._unknown if later <= run]:
            del self._unknown[later]

    @property
    def first_unknown(self) -> int | None:
        return min(self._unknown.values()) if self._unknown else None
