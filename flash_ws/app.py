"""``Flash``: a Dash app with the flash_ws transport installed on its server backend (Quart or FastAPI)."""

from __future__ import annotations

import inspect
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, Unpack

import dash

from .backends import adapter_for
from .callbacks import GLOBAL_EVENT_CALLBACKS, CallbackKeywords, EventCallbackRegistry, callback_options
from .dash_callbacks import add_stream, cancel_inputs, check_stream_outputs, take_from_dash
from .devtools import add_devtools_view
from .keywords import check_keywords
from .needs_flash import FLASH_APPS
from .page_config import TriggerGroup, build_groups, page_config
from .protocol import Limits
from .server import operations
from .server.gate import Gate
from .server.gc_tuning import gc_tuning_from_environment
from .server.metrics_access import parse_allowed
from .server.service import FlashWsService
from .server.settings import Settings, redis_cluster_mode

SCRIPT = {"relative_package_path": "assets/flash_ws.js", "namespace": "flash_ws"}


class Flash(dash.Dash):
    """A ``dash.Dash`` whose event callbacks stream over one WebSocket per page.

    Every Dash argument works as usual; ``backend`` is ``"quart"`` (the default here),
    ``"fastapi"`` or ``"flask"``, or ``server=`` an existing Quart, FastAPI or Flask app.
    ``app.asgi`` is what an ASGI server serves (on Flask, a front for the Flask app). flash_ws's own:

    - ``transport``: ``"auto"`` (WebSocket, else the fallback), ``"websocket"`` or ``"sse"``;
    - ``allowed_origins``: origins besides the page's own host that may connect (also read from
      Dash's ``websocket_allowed_origins``);
    - ``allowed_hosts``: host names the Host header may carry (``*.example.com`` wildcards; empty,
      the default: any; set it in production against DNS rebinding);
    - ``session_user``: a function of the request (or WebSocket) returning the signed-in user, or
      None; a session is then bound to its user as well as to its browser;
    - ``max_nesting``: how deep a start's arguments may nest arrays and objects (32);
    - ``max_active_runs``: active runs one page may have at once (32);
    - ``max_message_bytes``: the largest client message accepted (1 MiB);
    - ``replay_buffer_bytes``: unacknowledged output kept per page before producers wait (8 MiB);
    - ``replay_memory_budget``: unacknowledged output of all pages of this process before
      producers wait (256 MiB), shared fairly: a page under its fair share (the budget over the
      pages holding output) never waits for others; past it, the pages of one client address hold
      at most ``replay_memory_per_address`` (64 MiB); ``stalled_session_timeout``: a page that
      acknowledges nothing this long while its buffer is full is ended (60 s; close 1008, 403
      ``stalled``); ``max_refused_frames``: refused frames one connection may send before it is
      closed (100);
    - ``max_starts_per_second`` (100) and ``start_burst`` (200): starts one page may make (a token
      bucket); a start past them is refused (``end`` ``refused`` ``too_many_starts``);
      ``max_starts_per_address_per_second`` (1,000, a burst of twice that): starts all pages of one
      client address may make in this process, refused the same way (behind a proxy that does not
      pass the client's address, every page has the proxy's);
    - ``resume_grace``: seconds a page's session survives a dropped connection (30);
    - ``heartbeat_interval`` / ``heartbeat_timeout``: the server pings every interval (15 s), the page
      answers, and either end declares a connection dead after interval + timeout (10 s) of silence;
    - ``ws_timeout``: with ``transport="auto"``, seconds the WebSocket has to complete its first
      round trip before the page falls back to SSE + POST (2); ``ws_retry_after``: seconds before a
      tab that fell back tries the WebSocket again at a later page load (600);
    - ``redis_url``: share sessions between workers (processes, machines) through Redis, so a page
      may reach any worker (no sticky sessions); default: the ``FLASH_WS_REDIS_URL`` environment
      variable, else sessions live in this process. ``redis_cluster``: whether that Redis is a Redis
      Cluster (``redis_url`` naming any of its nodes): ``"auto"`` asks the node when the worker
      starts, ``True``/``"yes"`` or ``False``/``"no"`` say it; default: the
      ``FLASH_WS_REDIS_CLUSTER`` environment variable, else ``"auto"`` (docs/operating.md, Redis
      Cluster). ``worker_ttl``: lifetime in seconds of a worker's
      liveness key (5); a worker whose key stays gone another half of it is declared dead and its
      pages' runs are ended as lost. ``redis_store_interval`` (0.02 s): how often a worker stores
      its sessions' output in Redis (one pipeline for all); ``redis_ahead_frames`` (1024): how many
      frames a page connected to the session's worker may get before Redis holds them (the numbers a
      survivor declares void when that worker dies; docs/protocol.md).
    - ``max_sessions`` (10,000) and ``max_sessions_per_address`` (256): open sessions (connected or
      in their grace period) this process keeps, in all and per client address; past either, new
      pages are refused (WebSocket close 1013, HTTP 503 ``too_many_sessions``) and retry later.
      Behind a proxy every page has the proxy's address: raise the latter to match.
      ``redis_inbox_bytes`` (16 MiB): what may wait in one worker's Redis inbox; forwards past it are refused.
    - operating it (docs/operating.md): ``metrics`` serves Prometheus metrics at
      ``_flash_ws/metrics`` (default: the ``FLASH_WS_METRICS`` environment variable, else off), open
      to loopback clients, to ``metrics_allowed`` (addresses or networks) and to the bearer
      ``metrics_token`` (default ``$FLASH_WS_METRICS_TOKEN``); ``shutdown_grace``: seconds running
      generators get to finish when the worker is told to stop (5); ``log_format``: ``"json"``
      writes flash_ws's logs as JSON lines with the session events' fields (default:
      ``$FLASH_WS_LOG_FORMAT``, else ``"text"``, logging as the app configured it); ``gc_tuning``
      (default ``$FLASH_WS_GC_TUNING``, else True): when the app starts serving, freeze what
      start-up made and make young collections rarer (flash_ws/server/gc_tuning.py; process wide).
    - ``shared_event_stream`` (True): on the fallback, the tabs of one browser share one event stream
      and one uplink (a SharedWorker), so a browser uses at most two connections to the host over
      HTTP/1.1 whatever the number of tabs; ``max_shared_sessions`` (64): tabs one stream may carry;
      ``stall_warning`` (10 s): a request of the page unanswered this long is reported in its console;
      ``post_body_timeout`` (10 s): a POST whose body has not arrived whole this long after its
      headers is answered 408 (the page resends it) and its connection freed.
    - ``sync_threads`` (16) and ``sync_threads_per_page`` (4): sync generators step in a pool of
      threads of their own (Dash's and the server's work never waits for them), at most this many of
      one page at once; a cancelled run's step that is still running counts against its page's
      ``max_active_runs``.
    - ``ws_compress_min_bytes`` (1,024): WebSocket messages shorter than this go out without
      permessage-deflate (a small message fits one packet either way); 0 compresses every message.
      Process wide, when hypercorn serves: it applies to every WebSocket the process serves (the last
      ``Flash`` to start serving sets it).
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        transport: str = Settings.transport,
        allowed_origins: Sequence[str] = (),
        allowed_hosts: Sequence[str] = (),
        session_user: Callable[[Any], Any] | None = None,
        max_nesting: int = Limits.max_nesting,
        max_active_runs: int = Limits.max_active_runs,
        max_message_bytes: int = Limits.max_message_bytes,
        replay_buffer_bytes: int = Limits.replay_buffer_bytes,
        replay_memory_budget: int = Settings.replay_memory_budget,
        max_refused_frames: int = Limits.max_refused_frames,
        max_starts_per_second: float = Limits.max_starts_per_second,
        start_burst: int = Limits.start_burst,
        max_starts_per_address_per_second: float = Settings.max_starts_per_address_per_second,
        replay_memory_per_address: int = Settings.replay_memory_per_address,
        stalled_session_timeout: float = Settings.stalled_session_timeout,
        resume_grace: float = Settings.resume_grace,
        heartbeat_interval: float = Settings.heartbeat_interval,
        heartbeat_timeout: float = Settings.heartbeat_timeout,
        ws_timeout: float = Settings.ws_timeout,
        ws_retry_after: float = Settings.ws_retry_after,
        redis_url: str | None = None,
        redis_cluster: bool | str | None = None,
        worker_ttl: float = Settings.worker_ttl,
        redis_store_interval: float = Settings.redis_store_interval,
        redis_ahead_frames: int = Settings.redis_ahead_frames,
        max_sessions: int = Settings.max_sessions,
        max_sessions_per_address: int = Settings.max_sessions_per_address,
        redis_inbox_bytes: int = Settings.redis_inbox_bytes,
        metrics: bool | None = None,
        metrics_allowed: Sequence[str] = (),
        metrics_token: str | None = None,
        shutdown_grace: float = Settings.shutdown_grace,
        log_format: str | None = None,
        gc_tuning: bool | None = None,
        shared_event_stream: bool = Settings.shared_event_stream,
        max_shared_sessions: int = Settings.max_shared_sessions,
        stall_warning: float = Settings.stall_warning,
        post_body_timeout: float = Settings.post_body_timeout,
        sync_threads: int = Settings.sync_threads,
        sync_threads_per_page: int = Settings.sync_threads_per_page,
        ws_compress_min_bytes: int = Settings.ws_compress_min_bytes,
        **dash_kwargs: Any,
    ) -> None:
        _check_dash_keywords(dash_kwargs)
        self.flash_ws_backend = _backend_name(dash_kwargs)
        adapter = adapter_for(self.flash_ws_backend)
        self._stream_cancels: dict[Callable[..., Any], tuple[dash.Input, ...]] = {}  # app.callback's, by function
        FLASH_APPS.add(self)
        super().__init__(name, **dash_kwargs)
        metrics_on, token = operations.metrics_from_environment(metrics, metrics_token)
        limits = Limits(max_message_bytes=max_message_bytes, max_active_runs=max_active_runs,
                        replay_buffer_bytes=replay_buffer_bytes, max_nesting=max_nesting,
                        max_refused_frames=max_refused_frames, max_starts_per_second=max_starts_per_second,
                        start_burst=start_burst)
        origins = tuple(allowed_origins) + tuple(self._websocket_allowed_origins or ())
        self.flash_ws_settings = Settings(limits=limits, allowed_origins=origins, allowed_hosts=tuple(allowed_hosts),
                                          session_user=session_user, resume_grace=resume_grace,
                                          replay_memory_budget=replay_memory_budget,
                                          replay_memory_per_address=replay_memory_per_address,
                                          stalled_session_timeout=stalled_session_timeout,
                                          max_starts_per_address_per_second=max_starts_per_address_per_second,
                                          transport=transport, heartbeat_interval=heartbeat_interval,
                                          heartbeat_timeout=heartbeat_timeout, ws_timeout=ws_timeout,
                                          ws_retry_after=ws_retry_after,
                                          redis_url=redis_url or os.environ.get("FLASH_WS_REDIS_URL") or None,
                                          redis_cluster=redis_cluster_mode(redis_cluster),
                                          worker_ttl=worker_ttl, redis_store_interval=redis_store_interval,
                                          redis_ahead_frames=redis_ahead_frames, max_sessions=max_sessions,
                                          max_sessions_per_address=max_sessions_per_address,
                                          redis_inbox_bytes=redis_inbox_bytes, shared_event_stream=shared_event_stream,
                                          max_shared_sessions=max_shared_sessions, stall_warning=stall_warning,
                                          post_body_timeout=post_body_timeout, sync_threads=sync_threads,
                                          sync_threads_per_page=sync_threads_per_page,
                                          ws_compress_min_bytes=ws_compress_min_bytes,
                                          log_format=log_format or os.environ.get("FLASH_WS_LOG_FORMAT") or "text",
                                          metrics=metrics_on, metrics_allowed=parse_allowed(metrics_allowed),
                                          metrics_token=token, shutdown_grace=shutdown_grace,
                                          gc_tuning=gc_tuning_from_environment(gc_tuning))
        self.event_callbacks = EventCallbackRegistry()
        self.flash_ws = FlashWsService(self.event_callbacks, self.flash_ws_settings)
        self.flash_ws_gate = Gate(self.flash_ws, self._hooks.get_hooks, self.config.requests_pathname_prefix)
        self.flash_ws_routes = self.config.routes_pathname_prefix + "_flash_ws/"
        self._trigger_groups: list[TriggerGroup] = []
        self._event_callbacks_installed = False
        self._install_lock = threading.Lock()
        self.scripts.append_script(SCRIPT)
        self.flash_ws_ops = operations.Operations(self.flash_ws)
        self.flash_ws_drain = self.flash_ws_ops.drain
        adapter.install(self)

    def event_callback(self, *dependencies: Any,
                       **options: Unpack[CallbackKeywords]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register an event callback on this app (see ``flash_ws.event_callback``; ``options`` are
        the fields of ``flash_ws.callbacks.CallbackOptions``)."""
        given = callback_options("Flash.event_callback", options)

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            self.event_callbacks.register(func, dependencies, given)
            return func

        return decorator

    def callback(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Dash's ``app.callback``; a generator function streams over flash_ws with its ``cancel=``
        Inputs honoured (Dash drops ``cancel=`` unless ``background=True``; ``dash.callback`` loses
        it before any library sees it: use ``flash_ws.callback`` there)."""
        cancel = kwargs.pop("cancel", None)
        register = super().callback

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            if inspect.isasyncgenfunction(func) or inspect.isgeneratorfunction(func):
                check_stream_outputs(func, args, kwargs)
                self._stream_cancels[func] = cancel_inputs(func, cancel)
                return register(*args, **kwargs)(func)
            return register(*args, **({"cancel": cancel} if cancel is not None else {}), **kwargs)(func)

        return decorator

    def enable_dev_tools(self, debug: bool | None = None, *args: Any, **kwargs: Any) -> bool:
        """Dash's debug mode (``app.run(debug=True)``) also lets pages see a failing callback's
        exception text; without it they get its error code and a generic message."""
        debug = super().enable_dev_tools(debug, *args, **kwargs)
        self.flash_ws.debug = bool(debug)
        return debug

    def _setup_server(self) -> None:
        self.install_event_callbacks()
        super()._setup_server()

    def install_event_callbacks(self) -> None:
        """Take the module-level event callbacks and register their trigger groups (once)."""
        with self._install_lock:  # Dash runs _setup_server in a worker thread, the socket on the loop
            if self._event_callbacks_installed:
                return
            # Dash-style generator callbacks (dash.callback / app.callback) stream over flash_ws too.
            for callback_map, callback_list in ((dash._callback.GLOBAL_CALLBACK_MAP, dash._callback.GLOBAL_CALLBACK_LIST),
                                                (self.callback_map, self._callback_list)):
                for stream in take_from_dash(callback_map, callback_list, self._on_error, self._stream_cancels):
                    add_stream(self.event_callbacks, stream)
            GLOBAL_EVENT_CALLBACKS.move_into(self.event_callbacks)
            self._trigger_groups = build_groups(self.event_callbacks)
            for group in self._trigger_groups:
                self.clientside_callback(group.clientside_function(), *map(_TriggerInput.of, group.inputs), *group.states,
                                         prevent_initial_call=group.prevent_initial_call)
            self._event_callbacks_installed = True

    def _config(self) -> dict[str, Any]:
        config = super()._config()
        if not self._websocket_callbacks:
            # Dash's renderer opens its own callback socket whenever this is present.
            config.pop("websocket", None)
        if "stream" in config:
            # Dash >= 4.5: its streaming callbacks run over flash_ws, so its downlink stays closed.
            config["stream"] = {"enabled": False}
        settings = self.flash_ws_settings
        config["flash_ws"] = page_config(self.event_callbacks, self._trigger_groups,
                                         self.config.requests_pathname_prefix + "_flash_ws/", settings)
        if config.get("props_check"):  # Dash's debug mode: the page warns about props no component declares
            config["flash_ws"]["props_check"] = True
        add_devtools_view(config)  # only with Dash's dev tools UI (debug=True)
        return config




def _backend_name(dash_kwargs: dict[str, Any]) -> str:
    """The Dash backend this app runs on: ``server=``'s kind, else ``backend`` (Quart when neither
    says); Dash itself refuses a ``backend`` that contradicts ``server``."""
    server = dash_kwargs.get("server")
    if server is not None and not isinstance(server, bool):
        from dash.backends import get_server_type

        try:
            return get_server_type(server)
        except ValueError:
            raise ValueError(f"Flash(server=...) takes a Quart, FastAPI or Flask app, got {type(server).__name__}") from None
    backend = dash_kwargs.setdefault("backend", "quart")
    if not isinstance(backend, str):
        raise ValueError(f"Flash takes backend as a name ('quart', 'fastapi' or 'flask'), got {backend!r}")
    return backend.lower()


def _check_dash_keywords(dash_kwargs: dict[str, Any]) -> None:
    """Refuse a keyword neither ``Flash`` nor ``dash.Dash`` takes, naming ``Flash()`` and the closest
    keyword of either (Dash's own message for its obsolete keywords is kept)."""
    dash_params = {name for name, p in inspect.signature(dash.Dash.__init__).parameters.items()
                   if p.kind is not inspect.Parameter.VAR_KEYWORD} - {"self"}
    unknown = {name: value for name, value in dash_kwargs.items() if name not in dash_params}
    if not unknown:
        return
    try:
        dash._validate.check_obsolete(unknown)  # Dash's obsolete keywords: its own error, or a warning
    except TypeError:
        pass
    else:
        return
    flash_params = set(inspect.signature(Flash.__init__).parameters) - {"self", "name", "dash_kwargs"}
    check_keywords("Flash", unknown, dash_params | flash_params)


class _TriggerInput(dash.Input):
    """An Input of a trigger group's clientside callback: the same dependency for Dash's renderer
    (``to_dict``), with a name of its own. Dash names a callback without Outputs by a hash of its
    Inputs' ``str()``, so the app's own Output-less callback on the same Inputs (a Stop button that
    also logs) would otherwise be a DuplicateCallback of flash_ws's."""

    @classmethod
    def of(cls, dependency: dash.Input) -> _TriggerInput:
        return cls(dependency.component_id, dependency.component_property, dependency.allow_optional)

    def __str__(self) -> str:
        return super().__str__() + "@flash_ws"
