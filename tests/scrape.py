"""Read a server's ``_flash_ws/metrics`` and ``_flash_ws/health`` over HTTP, as a Prometheus server
and a load balancer would."""

from __future__ import annotations

import json
import urllib.error
import urllib.request


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """Status and body of a GET (4xx and 5xx answers included)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def health(base_url: str, probe: str = "") -> tuple[int, dict]:
    status, body = get(base_url + "/_flash_ws/health" + (f"?probe={probe}" if probe else ""))
    return status, json.loads(body)


class Scrape:
    """One scrape of the metrics: ``value(name, **labels)`` sums the samples matching the labels."""

    def __init__(self, text: str) -> None:
        from prometheus_client.parser import text_string_to_metric_families

        self.samples = [(sample.name, sample.labels, sample.value)
                        for family in text_string_to_metric_families(text) for sample in family.samples]

    def value(self, name: str, **labels: str) -> float:
        return sum(value for sample, found, value in self.samples
                   if sample == name and all(found.get(key) == wanted for key, wanted in labels.items()))


TOKEN = "flash-ws-test-metrics-token"
METRICS_ON = {"FLASH_WS_METRICS": "1", "FLASH_WS_METRICS_TOKEN": TOKEN}  # a test server's environment


def scrape(base_url: str, headers: dict[str, str] | None = None) -> Scrape:
    """The metrics of a server started with ``METRICS_ON``, read with its bearer token."""
    status, body = get(base_url + "/_flash_ws/metrics", {"Authorization": f"Bearer {TOKEN}"} if headers is None else headers)
    assert status == 200, f"metrics answered {status}: {body[:300]!r}"
    return Scrape(body.decode())
