"""Who may read ``_flash_ws/metrics``: the bearer token (``metrics_token``) or the addresses and
networks the operator allows (``metrics_allowed``); nobody else, loopback clients included: a
reverse proxy on the same machine (a stock nginx sends no forwarding header) makes every client
look local. Pure: no request objects."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

from ..protocol.tokens import same_secret

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# A request that came through a proxy: its peer address (the proxy's) says nothing about the client.
FORWARDED_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def parse_allowed(allowed: Iterable[str]) -> tuple[Network, ...]:
    """``metrics_allowed`` as networks; a bad entry is refused naming it."""
    networks = []
    for entry in allowed:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"metrics_allowed: {entry!r} is not an IP address or network (e.g. 10.0.0.0/8)") from None
    return tuple(networks)


def metrics_refusal(remote_addr: str | None, headers: Mapping[str, str], allowed: tuple[Network, ...],
                    token: str | None) -> str | None:
    """Why the metrics must be refused to this request, or None when it may read them. A request
    from a loopback peer that carries a forwarding header came through a proxy on this machine:
    ``metrics_allowed`` does not admit it.

    ``headers`` are matched case-insensitively (Quart's and Werkzeug's are)."""
    authorization = headers.get("authorization") or ""
    if token and authorization.startswith("Bearer "):
        return None if same_secret(authorization[len("Bearer "):].strip(), token) else "wrong metrics bearer token"
    address = _address(remote_addr)
    proxied = address is not None and address.is_loopback and any(headers.get(name) for name in FORWARDED_HEADERS)
    if address is not None and not proxied and any(address in network for network in allowed):
        return None
    if address is not None and address.is_loopback and not proxied:
        return ("metrics are not open to loopback clients by default (a proxy on this machine makes every client "
                "look local): send the metrics_token as a bearer (Authorization: Bearer; FLASH_WS_METRICS_TOKEN), "
                "or allow this machine with Flash(metrics_allowed=['127.0.0.1'])")
    return ("metrics are open to the metrics_token bearer (Authorization: Bearer) and to metrics_allowed addresses; "
            "this client is neither" + (" (it came through a proxy on this machine)" if proxied else ""))


def _address(remote_addr: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not remote_addr:
        return None
    try:
        return ipaddress.ip_address(remote_addr.split("%", 1)[0])
    except ValueError:
        return None  # a Unix socket or an unknown peer: only the allow list by network or the token can admit it
