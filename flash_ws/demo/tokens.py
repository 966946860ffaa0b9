"""Demo page 3, "Token streaming" (``/tokens``): two chat answers streaming word by word.

Written with Dash's callback API (``Output``, ``Input``, ``State``, ``Patch``, ``running=``): the
streaming most Dash users write today. ``flash_ws.callback`` is ``dash.callback`` plus ``cancel=`` on
streams. The answers are simulated from the text below (30-100 tokens/s), no model involved.
"""

from __future__ import annotations

import asyncio
import random
import re

from dash import Input, Output, Patch, State, dcc, html, no_update

from flash_ws import callback

from . import components as c

SIDES = ("a", "b")
ANSWERS = (
    """**Streaming** sends a result piece by piece while it is still being made, so the page shows the first words
at once instead of a spinner.

- Each piece is an *update*: here, a `Patch` that appends a few characters to the answer.
- flash_ws carries every update of every stream of the page over **one** connection, and replays what a
  dropped connection missed, so no word is lost or repeated.
- Press **Stop** to end an answer: the words shown stay, and the button is ready again.

Under the hood, each answer is an ordinary Python generator. It awaits the next token, wraps it in a
`Patch`, and yields it; the page applies the appended text where it stands. Nothing on the page
polls, and no request stays open per answer: the updates of every stream share the page's one
connection, in order, each exactly once.""",
    """A Dash callback that *yields* instead of *returning* becomes a stream. Every `yield` has the shape of
the callback's return value: one value per `Output`.

1. `no_update` leaves an output as it is.
2. `PreventUpdate` ends the stream quietly.
3. `running=` disables the button while the answer streams, and enables it again after.

Two answers can stream at once: each has its own run, and neither waits for the other.

A stream ends in one of four ways: it returns (the last values stay and `running=` is undone), it
raises `PreventUpdate` (the same, quietly), it raises an error (`on_error` decides what to show), or
the page cancels it (a Stop button, or the same callback triggered again). In each case the buttons
come back as they were, so the page is ready for the next question.""",
    """Behind a proxy that blocks WebSockets, the same page streams over **Server-Sent Events** with its
messages posted back, and it resumes exactly where it stopped after a network cut.

> The server keeps what the page has not acknowledged yet, and pauses a stream whose page stops reading,
> so a slow tab cannot fill the server's memory.

That is all there is to it: replace `Dash(...)` with `Flash(...)`.

The token rate here is simulated: between 30 and 100 tokens per second, the pace of a typical
language model. A real model would replace the loop over the shipped text with a loop over its
streamed response; the rest of the callback stays the same.""",
)
MIN_DELAY, MAX_DELAY = 0.01, 0.033  # seconds between tokens: 30 to 100 tokens per second


def tokens_of(text: str) -> list[str]:
    """The answer cut into tokens: each word with the whitespace after it."""
    return re.findall(r"\S+\s*", text)


def answer_for(question: str | None, n_clicks: int | None, side: str) -> str:
    """The text one answer streams (it depends on the click count and the side, not on the question)."""
    return ANSWERS[((n_clicks or 0) + SIDES.index(side)) % len(ANSWERS)]


def ids(side: str) -> dict[str, str]:
    return {name: f"chat-{side}-{name}" for name in ("question", "send", "stop", "answer", "status")}


def _panel(side: str) -> html.Div:
    i = ids(side)
    box = {"minHeight": "220px", "padding": "12px 16px", "border": "1px solid #e9ecef", "borderRadius": "8px",
           "background": "#fcfcfd", "lineHeight": 1.5, "fontSize": "15px"}
    question = dcc.Input(id=i["question"], value="How does streaming work?", debounce=False,
                         style={"flex": 1, "padding": "8px 10px", "borderRadius": "6px", "border": "1px solid #ced4da",
                                "fontSize": "14px"})
    return c.card(
        html.Div([question, c.button("Send", i["send"], c.PRIMARY_BUTTON),
                  c.button("Stop", i["stop"], c.DANGER_BUTTON, disabled=True)], style=c.ROW_STYLE),
        dcc.Markdown("*Ask something and press Send.*", id=i["answer"], style=box),
        html.Div("", id=i["status"], style={"color": c.MUTED, "fontSize": "13px", "marginTop": "8px"}),
        title=f"Assistant {side.upper()}",
    )


def tokens_layout() -> html.Div:
    """Two chat panels side by side."""
    intro = html.P(["Each answer streams word by word into a ", html.Code("dcc.Markdown"), " with ",
                    html.Code("Patch"), " appends. Start both: they stream at once, over the page's one connection."],
                   style={"color": c.MUTED})
    panels = html.Div([html.Div(_panel(side), style={"flex": "1 1 420px"}) for side in SIDES],
                      style={"display": "flex", "gap": "20px", "flexWrap": "wrap"})
    return html.Div([intro, panels])


def _register(side: str) -> None:
    i = ids(side)

    @callback(Output(i["answer"], "children"), Output(i["status"], "children"),
              Input(i["send"], "n_clicks"), State(i["question"], "value"),
              prevent_initial_call=True, cancel=[Input(i["stop"], "n_clicks")],
              running=[(Output(i["send"], "disabled"), True, False), (Output(i["stop"], "disabled"), False, True)])
    async def answer(n_clicks: int, question: str | None):
        yield f"**You:** {question or '…'}\n\n", "thinking…"
        await asyncio.sleep(0.3)
        tokens = tokens_of(answer_for(question, n_clicks, side))
        for count, token in enumerate(tokens, 1):
            await asyncio.sleep(random.uniform(MIN_DELAY, MAX_DELAY))
            text = Patch()
            text += token
            yield text, (f"{count} / {len(tokens)} tokens" if count % 10 == 0 else no_update)
        yield no_update, f"done: {len(tokens)} tokens"

    answer.__name__ = answer.__qualname__ = f"answer_{side}"  # a stable callback id per side


for _side in SIDES:
    _register(_side)
