"""client/src/graph_busy.js on a real dcc.Graph in Chromium. No API says whether a graph is still
drawing the extendData it was given, so the page reads React internals (see the module's comment);
these tests fail, naming what could not be found, when a Dash or React release moves them.

Real Chromium: the React internals of a rendered dcc.Graph and Plotly's own extendTraces exist
only in a real page."""

from __future__ import annotations

import dash
import pytest

from tests.browser import PageWatch, open_page
from tests.conftest import ROOT

pytestmark = pytest.mark.browser
SOURCE = (ROOT / "client" / "src" / "graph_busy.js").read_text()

# the module, loaded from its source (the bundle is one closure), then its graphQueue on the page
LOAD = """async source => {
    window.graphBusy = await import(URL.createObjectURL(new Blob([source], {type: 'text/javascript'})));
}"""


@pytest.fixture
def page(browser, serve):
    watch = open_page(browser, serve("tests.apps.browser_app:server").url)
    watch.page.wait_for_selector("#chart .js-plotly-plot")  # dcc.Graph has loaded its chunk and drawn
    watch.page.evaluate(LOAD, SOURCE)
    yield watch
    watch.page.close()


def queue(page: PageWatch) -> dict:
    return page.page.evaluate("() => window.graphBusy.graphQueue(document, 'chart')")


def where(page: PageWatch) -> str:
    react = page.page.evaluate("() => window.React && window.React.version")
    return f"Dash {dash.__version__}, React {react}"


def test_the_page_reads_a_dcc_graphs_queue(page: PageWatch):
    found = queue(page)
    assert "missing" not in found, (
        f"client/src/graph_busy.js can no longer read dcc.Graph's extendData queue on {where(page)}: "
        f"{found['missing']}. Find where dcc.Graph now keeps it and update graph_busy.js and its comment.")
    assert found == {"queued": 0}


def test_the_graph_is_busy_until_plotly_has_drawn_its_extend_data(page: PageWatch):
    """Plotly's extendTraces is held (dcc.Graph calls the global Plotly), so the graph stays busy
    until the test lets it draw: the page's check must see busy, then idle once drawn."""
    page.page.evaluate("""() => {
        const extendTraces = window.Plotly.extendTraces;
        window.held = [];
        window.Plotly.extendTraces = (...args) => new Promise(resolve => {
            window.held.push(() => resolve(extendTraces.apply(window.Plotly, args)));
        });
        window.busy = window.graphBusy.graphBusyCheck(document);
        window.dash_clientside.set_props('chart', {extendData: [{x: [[1]], y: [[1]]}, [0]]});
    }""")
    page.wait_until(lambda: page.page.evaluate("() => window.held.length") > 0, "dcc.Graph to call Plotly.extendTraces")
    assert queue(page) == {"queued": 1}, f"the queue while Plotly draws, on {where(page)}: {queue(page)}"
    assert page.page.evaluate("() => window.busy('chart', 'extendData')"), f"graph_busy.js saw no busy graph on {where(page)}"
    page.page.evaluate("() => window.held.forEach(draw => draw())")
    page.wait_until(lambda: page.chart_y("chart") == [1], "the point drawn")
    page.wait_until(lambda: not page.page.evaluate("() => window.busy('chart', 'extendData')"), "the graph idle once drawn")
