"""Shared pieces of the demo: component ids, inline styles, the nav bar and notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dash import Patch, dcc, html

from flash_ws import StreamProps, stream_props

# --- component ids -----------------------------------------------------------------------------

URL = "url"
NAV = "nav"
PAGE = "page"
NOTIFICATIONS = "notifications"
CLEAR_NOTIFICATIONS = "clear-notifications"

# Progressive data load ("/")
LOAD_BTN = "load-btn"
CANCEL_BTN = "cancel-btn"
CHUNK_SIZE = "chunk-size"
PROGRESS_BAR = "progress-bar"
PROGRESS_TEXT = "progress-text"
TABLE = "table"

# Endless live dashboard ("/live")
START_BTN = "start-btn"
STOP_BTN = "stop-btn"
FAIL_CHECK = "fail-check"
TICKERS = ("google", "apple", "microsoft", "amazon")


def graph_id(ticker: str) -> dict[str, str]:
    """The pattern-matching id of one ticker's live chart."""
    return {"type": "live-graph", "ticker": ticker}


# --- styles --------------------------------------------------------------------------------------

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
ACCENT = "#4c6ef5"
MUTED = "#868e96"

PAGE_STYLE = {"fontFamily": FONT, "color": "#212529", "background": "#f8f9fa", "minHeight": "100vh", "margin": 0}
MAIN_STYLE = {"maxWidth": "1100px", "margin": "0 auto", "padding": "24px"}
CARD_STYLE = {"background": "white", "borderRadius": "10px", "padding": "20px", "marginBottom": "20px",
              "boxShadow": "0 1px 3px rgba(0,0,0,.08)"}
ROW_STYLE = {"display": "flex", "alignItems": "center", "gap": "12px", "flexWrap": "wrap", "marginBottom": "16px"}

_BUTTON = {"border": "none", "borderRadius": "6px", "padding": "8px 16px", "fontSize": "14px",
           "fontFamily": FONT, "cursor": "pointer", "color": "white"}
PRIMARY_BUTTON = {**_BUTTON, "background": ACCENT}
DANGER_BUTTON = {**_BUTTON, "background": "#fa5252"}
HIDDEN_DANGER_BUTTON = {**DANGER_BUTTON, "display": "none"}

_LINK = {"textDecoration": "none", "padding": "6px 12px", "borderRadius": "6px", "fontSize": "15px"}

# Friendly notice colours (any CSS colour works too).
COLORS = {"lime": "#82c91e", "violet": "#7950f2", "red": "#fa5252", "blue": ACCENT, "gray": MUTED}


# --- building blocks ---------------------------------------------------------------------------

def button(label: str, id: str | dict[str, Any], style: dict[str, Any], disabled: bool = False) -> html.Button:
    """A styled button whose ``n_clicks`` starts at 0 (the cancel entries' keep value)."""
    return html.Button(label, id=id, n_clicks=0, disabled=disabled, style=style)


def card(*children: Any, title: str | None = None) -> html.Div:
    """A white rounded panel, with an optional heading."""
    heading = [html.H3(title, style={"margin": "0 0 12px", "fontSize": "17px"})] if title else []
    return html.Div([*heading, *children], style=CARD_STYLE)


def nav_links(pathname: str) -> list[dcc.Link]:
    """The nav bar's links, the one for ``pathname`` highlighted."""
    pages = [("/", "Progressive data load"), ("/live", "Endless live dashboard"), ("/tokens", "Token streaming"),
             ("/cards", "Cards")]
    links = []
    for href, label in pages:
        active = href == pathname
        style = {**_LINK, "color": "white" if active else "#dee2e6",
                 "background": "rgba(255,255,255,.15)" if active else "transparent"}
        links.append(dcc.Link(label, href=href, style=style))
    return links


def header() -> html.Header:
    """The top bar: title and the nav links (filled in by the routing callback)."""
    title = html.Span("⚡ flash_ws demo", style={"fontWeight": 600, "fontSize": "18px", "marginRight": "24px"})
    return html.Header(
        [title, html.Nav(nav_links("/"), id=NAV, style={"display": "flex", "gap": "6px"})],
        style={"display": "flex", "alignItems": "center", "padding": "12px 24px", "background": "#212529",
               "color": "white"},
    )


def notification_area() -> html.Aside:
    """A fixed panel at the bottom right that lists notices, newest first."""
    clear = html.Button("clear", id=CLEAR_NOTIFICATIONS, n_clicks=0,
                        style={"border": "none", "background": "none", "color": MUTED, "cursor": "pointer",
                               "fontSize": "12px", "padding": 0})
    return html.Aside(
        [
            html.Div([html.Span("Notifications", style={"fontWeight": 600}), clear],
                     style={"display": "flex", "justifyContent": "space-between", "fontSize": "13px",
                            "marginBottom": "6px"}),
            html.Div([], id=NOTIFICATIONS, style={"maxHeight": "40vh", "overflowY": "auto"}),
        ],
        style={"position": "fixed", "right": "16px", "bottom": "16px", "width": "300px", "padding": "10px 12px",
               "background": "rgba(255,255,255,.95)", "borderRadius": "10px", "zIndex": 10,
               "boxShadow": "0 4px 16px rgba(0,0,0,.15)", "fontFamily": FONT},
    )


def notice(title: str, message: str, color: str = "blue") -> html.Div:
    """One notice: a title, the time and a message, with a coloured left edge."""
    edge = COLORS.get(color, color)
    return html.Div(
        [
            html.Div([html.Strong(title), html.Span(datetime.now().strftime("%H:%M:%S"), style={"color": MUTED})],
                     style={"display": "flex", "justifyContent": "space-between"}),
            html.Div(message, style={"color": "#495057"}),
        ],
        style={"borderLeft": f"4px solid {edge}", "background": "#f8f9fa", "borderRadius": "4px",
               "padding": "6px 10px", "marginBottom": "6px", "fontSize": "13px"},
    )


def notify(title: str, message: str, color: str = "blue") -> StreamProps:
    """``stream_props`` that add a notice on top of the notification list (earlier ones stay)."""
    children = Patch()
    children.prepend(notice(title, message, color))
    return stream_props(NOTIFICATIONS, {"children": children})
