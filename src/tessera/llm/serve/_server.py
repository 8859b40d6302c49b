"""Run the service with uvicorn: in the foreground (``tessera serve``) or in a thread (tests)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import threading
import time
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any

from tessera._validation import bad_value, check_positive_int
from tessera.errors import TesseraError

__all__ = ["RunningServer", "check_host", "is_loopback", "serve", "start_server"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (``127.0.0.0/8``, ``::1``, ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(host: str, *, allow_public: bool = False) -> str:
    """Refuse a non-loopback bind address unless ``allow_public`` says it is meant.

    Anyone who can reach a public address can try keys against the service; binding to
    one should be a decision, not a default.
    """
    if not isinstance(host, str) or not host:
        raise bad_value("host", host, "it must be an address", "Pass '127.0.0.1'.")
    if not is_loopback(host) and not allow_public:
        raise bad_value(
            "host",
            host,
            "it is not a loopback address, so other machines could reach the service",
            "Keep the default 127.0.0.1 (put a TLS proxy in front for remote clients), or "
            "pass --allow-public (allow_public=True) if every client is meant to reach it.",
        )
    return host


class _RedactKeys(logging.Filter):
    """Replace the secret of anything shaped like a key in a log record's message and args.

    On uvicorn's loggers, so that its access log never holds a key, whatever URL a client
    sent (the service refuses keys in URLs, but the access log line is written anyway).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        from tessera.llm.serve._keys import redact_keys

        if isinstance(record.msg, str):
            record.msg = redact_keys(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_keys(a) if isinstance(a, str) else a for a in record.args)
        return True


#: The loggers whose records may quote a request's URL.
_URL_LOGGERS = ("uvicorn.access", "uvicorn.error")


def _redact_uvicorn_logs() -> None:
    for name in _URL_LOGGERS:
        named = logging.getLogger(name)
        if not any(isinstance(f, _RedactKeys) for f in named.filters):
            named.addFilter(_RedactKeys())


def _tls(tls_cert: str | Path | None, tls_key: str | Path | None) -> dict[str, str]:
    """uvicorn's TLS options: both files or neither (issue 23: bearer tokens need HTTPS)."""
    if tls_cert is None and tls_key is None:
        return {}
    if tls_cert is None or tls_key is None:
        missing = "tls_key" if tls_key is None else "tls_cert"
        raise bad_value(
            missing,
            None,
            "TLS needs both a certificate and its private key",
            "Pass --tls-cert CERT.pem and --tls-key KEY.pem together.",
        )
    for name, path in (("tls_cert", tls_cert), ("tls_key", tls_key)):
        if not Path(path).is_file():
            raise bad_value(name, str(path), "it is not a readable file", "Pass a PEM file.")
    return {"ssl_certfile": str(tls_cert), "ssl_keyfile": str(tls_key)}


#: The most bytes of a request's head (request line and headers) the server holds: h11's
#: own limit, kept when parsing is httptools', which has none.
MAX_HEAD_BYTES = 16 * 1024
#: Seconds a connection may take to send a request's head, from its first byte (or from
#: the connection opening): a client that trickles a head (slowloris) is cut off.
HEAD_TIMEOUT = 30.0
#: Seconds a request's body may take to arrive after its head, not counting time the
#: server itself holds off reading: a client that trickles a body (slow POST) is cut off.
BODY_TIMEOUT = 60.0


def _timed_out(what: bytes) -> bytes:
    message = b"Request %s took too long." % what
    return (
        b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(message), message)
    )


@cache
def _http_protocol() -> Any:
    """uvicorn's httptools protocol (C parsing) with limits on the request head and h11's
    Host rule, or ``"h11"`` where httptools is not installed.

    httptools holds whatever head a client sends, so headers without end would grow the
    process without bound. Here the bytes of a head still incomplete after a read count
    towards :data:`MAX_HEAD_BYTES`; past it the client gets a 400 and the connection
    closes, as h11 answers. A read in which one request ends and the next begins is not
    counted (the new head's share of it is unknown), so a head can exceed the limit by at
    most one read. A head must also arrive within :data:`HEAD_TIMEOUT` of its first byte
    (or of the connection opening), and a body within :data:`BODY_TIMEOUT` of its head
    (the clock waits while the server holds off reading, and until it sends the 100
    Continue a client may wait for), else a 408 (or, once the answer has begun, nothing
    more) and the connection closes; between requests, uvicorn's keep-alive timeout
    closes an idle connection.
    """
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools is not installed
        return "h11"
    from uvicorn.protocols.http.flow_control import FlowControl

    class TimedFlow(FlowControl):
        """uvicorn's flow control, keeping the time reading has been held off."""

        held = 0.0  # seconds held off before the current hold
        _since: float | None = None

        def pause_reading(self) -> None:
            if not self.read_paused:
                self._since = time.monotonic()
            super().pause_reading()

        def resume_reading(self) -> None:
            if self.read_paused and self._since is not None:
                self.held += time.monotonic() - self._since
                self._since = None
            super().resume_reading()

        def held_now(self) -> float:
            if self._since is None:
                return self.held
            return self.held + time.monotonic() - self._since

    class LimitedHttpToolsProtocol(HttpToolsProtocol):
        _in_head = True
        _head_bytes = 0
        _request_ended = False  # a request ended in this read (the next head's share unknown)
        _head_clock: asyncio.TimerHandle | None = None
        _body_clock: asyncio.TimerHandle | None = None
        _body_began = (0.0, 0.0)  # when the head ended, and the flow's held time then

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self.flow = TimedFlow(transport)
            self._start_clock()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_clock()
            self._stop_body_clock()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            self._request_ended = False
            if self._in_head:
                self._start_clock()
            super().data_received(data)
            if not self._in_head or self.transport.is_closing():
                return
            if not self._request_ended:
                self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self.send_400_response(f"Request head over {MAX_HEAD_BYTES} bytes.")

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._start_clock()  # a head began: perhaps inside a read that ended a body

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._stop_clock()
            hosts = sum(name == b"host" for name, _ in self.headers)
            if self.parser.get_http_version() == "1.1" and hosts != 1:
                # RFC 9112 (3.2): a 400, as h11 answers; raised here, the parser answers it
                raise ValueError("an HTTP/1.1 request needs exactly one Host header")
            super().on_headers_complete()
            self._body_began = (time.monotonic(), self._flow().held_now())
            # a client that expects 100 Continue sends its body only once asked
            first = BODY_TIMEOUT / 10 if self.expect_100_continue else BODY_TIMEOUT
            self._body_clock = self.loop.call_later(first, self._body_late)

        def on_message_complete(self) -> None:
            self._stop_body_clock()
            super().on_message_complete()
            self._in_head, self._head_bytes, self._request_ended = True, 0, True

        def _start_clock(self) -> None:
            if self._head_clock is None:
                self._head_clock = self.loop.call_later(HEAD_TIMEOUT, self._head_late)

        def _stop_clock(self) -> None:
            if self._head_clock is not None:
                self._head_clock.cancel()
                self._head_clock = None

        def _stop_body_clock(self) -> None:
            if self._body_clock is not None:
                self._body_clock.cancel()
                self._body_clock = None

        def _head_late(self) -> None:
            self._head_clock = None
            if self._in_head and not self.transport.is_closing():
                self.transport.write(_timed_out(b"head"))
                self.transport.close()

        def _flow(self) -> TimedFlow:
            assert isinstance(self.flow, TimedFlow)  # set in connection_made
            return self.flow

        def _body_late(self) -> None:
            self._body_clock = None
            if self.transport.is_closing():
                return
            now = time.monotonic()
            if self.cycle is not None and self.cycle.waiting_for_100_continue:
                # the app has not asked for the body yet (no 100 Continue sent): the clock
                # starts again from here, looking again in a tenth of the time
                self._body_began = (now, self._flow().held_now())
                self._body_clock = self.loop.call_later(BODY_TIMEOUT / 10, self._body_late)
                return
            began, held = self._body_began
            # the time the client has had, less the time the server held off reading
            used = now - began - (self._flow().held_now() - held)
            if used < BODY_TIMEOUT:
                self._body_clock = self.loop.call_later(BODY_TIMEOUT - used, self._body_late)
                return
            if self.cycle is None or not self.cycle.response_started:
                self.transport.write(_timed_out(b"body"))
            self.transport.close()

    return LimitedHttpToolsProtocol


def _config(
    app: Any,
    host: str,
    port: int,
    log_level: str,
    own_logging: bool,
    tls: dict[str, str] | None = None,
) -> Any:
    import uvicorn

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        # A library must not reconfigure its host program's logging: in a thread the
        # records go to the root logger's handlers.
        log_config=uvicorn.config.LOGGING_CONFIG if own_logging else None,
        # httptools and uvloop (C) where installed, h11 and asyncio otherwise: per streamed
        # token, the pure-Python ones hold the interpreter lock that decoding also needs.
        http=_http_protocol(),
        loop="auto",
        ws="none",
        lifespan="off",
        server_header=False,
        ssl_certfile=(tls or {}).get("ssl_certfile"),
        ssl_keyfile=(tls or {}).get("ssl_keyfile"),
    )
    _redact_uvicorn_logs()  # after Config, which may configure logging
    return config


def serve(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    allow_public: bool = False,
    log_level: str = "info",
    tls_cert: str | Path | None = None,
    tls_key: str | Path | None = None,
) -> None:
    """Serve ``app`` until interrupted (Ctrl-C); over HTTPS with ``tls_cert`` and ``tls_key``
    (PEM files), which clients sending bearer tokens (boto3's Bedrock API keys) require."""
    import uvicorn

    check_host(host, allow_public=allow_public)
    check_positive_int("port", port, minimum=0)
    tls = _tls(tls_cert, tls_key)
    uvicorn.Server(_config(app, host, port, log_level, own_logging=True, tls=tls)).run()


class RunningServer:
    """A uvicorn server in a background thread; stop it with :meth:`stop` (or ``with``).

    Attributes
    ----------
    url : str
        ``http://<host>:<port>`` of the bound socket.
    """

    def __init__(self, server: Any, thread: threading.Thread, url: str) -> None:
        self._server = server
        self._thread = thread
        self.url = url

    @property
    def base_url(self) -> str:
        """The OpenAI-style API root, ``<url>/v1``."""
        return f"{self.url}/v1"

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the server to finish its requests and exit; wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_server(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "warning",
    timeout: float = 30.0,
    tls_cert: str | Path | None = None,
    tls_key: str | Path | None = None,
) -> RunningServer:
    """Start ``app`` on ``host:port`` in a daemon thread and wait until it accepts requests.

    Parameters
    ----------
    app : ASGI application
        From :func:`create_app`.
    host : str, default="127.0.0.1"
        A loopback address (this helper is for tests, benchmarks and embedding).
    port : int, default=0
        0 picks a free port; read it back from :attr:`RunningServer.url`.
    log_level : str, default="warning"
        uvicorn's log level.
    timeout : float, default=30.0
        Seconds to wait for the server to start.
    tls_cert, tls_key : str or Path or None, default=None
        PEM certificate and private key: serve HTTPS (the URL then starts ``https://``).
    """
    import uvicorn

    check_host(host)
    check_positive_int("port", port, minimum=0)
    tls = _tls(tls_cert, tls_key)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY only on accepted
    # sockets whose proto says TCP, and without it every response written in two parts
    # (headers, then body) waited for the client's delayed ACK (about 40 ms a request).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    server = uvicorn.Server(_config(app, host, bound, log_level, own_logging=False, tls=tls))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="tessera-serve", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise TesseraError(f"the server on {host}:{bound} did not start within {timeout} s")
        time.sleep(0.01)
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    scheme = "https" if tls else "http"
    return RunningServer(server, thread, f"{scheme}://{shown}:{bound}")
