"""Demo page 4, "Cards" (``/cards``): cards added at run time, each with a stream of its own.

One event callback serves every card through MATCH: a card's Start runs it for that card
(``ctx.triggered_id`` says which), its Stop cancels that card's run only, and the reset and the
updates name the card with ``MATCH``. Starting a card again restarts only that card.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

from dash import MATCH, Input, Output, State, ctx, html

from flash_ws import StreamProps, callback, event_callback, stream_props

from . import components as c

ADD = "add-card"
CARDS = "cards"
STEPS = 100  # about 7 s a card


def card_ids(index: int) -> dict[str, dict[str, object]]:
    """The pattern-matching ids of card ``index``'s parts."""
    return {part: {"type": f"card-{part}", "index": index} for part in ("start", "stop", "bar", "text")}


def one_card(index: int) -> html.Div:
    """Card ``index``: Start, Stop, a progress bar and its text."""
    i = card_ids(index)
    return html.Div(c.card(
        html.Div([c.button("Start", i["start"], c.PRIMARY_BUTTON), c.button("Stop", i["stop"], c.DANGER_BUTTON)],
                 style=c.ROW_STYLE),
        html.Progress(id=i["bar"], value="0", max=str(STEPS), style={"width": "100%"}),
        html.Div("idle", id=i["text"], style={"color": c.MUTED, "marginTop": "8px"}),
        title=f"Card {index + 1}"), style={"flex": "1 1 240px"})


def cards_layout() -> html.Div:
    """An Add button and the cards added so far (none at first)."""
    intro = html.P(["Add a few cards and start them: each streams on its own, over the page's one connection. ",
                    "One callback serves them all with ", html.Code("MATCH"), "."], style={"color": c.MUTED})
    return html.Div([intro, html.Div(c.button("Add a card", ADD, c.PRIMARY_BUTTON), style=c.ROW_STYLE),
                     html.Div(id=CARDS, style={"display": "flex", "gap": "20px", "flexWrap": "wrap"})])


@callback(Output(CARDS, "children"), Input(ADD, "n_clicks"), State(CARDS, "children"), prevent_initial_call=True)
def add_card(n_clicks: int, cards: list[Any] | None) -> list[Any]:
    """An ordinary Dash callback: the cards there are, then as many new ones as it takes to have one
    per click. Not one ``Patch`` append per click: Dash's renderer drops the answer of a request that
    a quicker click made again while it ran, so quick clicks would lose cards."""
    cards = list(cards or [])
    return cards + [one_card(index) for index in range(len(cards), n_clicks)]


BAR, TEXT = {"type": "card-bar", "index": MATCH}, {"type": "card-text", "index": MATCH}


@event_callback(Input({"type": "card-start", "index": MATCH}, "n_clicks"),
                cancel=[(Input({"type": "card-stop", "index": MATCH}, "n_clicks"), 0)],
                reset_props=[(BAR, {"value": "0"}), (TEXT, {"children": "stopped"})])
async def run_card(n_clicks: int) -> AsyncIterator[StreamProps]:
    """Count one card's steps; ``MATCH`` in the ids is this card's index."""
    card = ctx.triggered_id["index"] + 1
    for step in range(1, STEPS + 1):
        await asyncio.sleep(random.uniform(0.03, 0.12))
        yield stream_props([(BAR, {"value": str(step)}), (TEXT, {"children": f"card {card}: step {step} of {STEPS}"})])
    yield stream_props(TEXT, {"children": f"card {card}: done"})
