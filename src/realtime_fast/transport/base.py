"""The transport interface: what the client needs from a WebSocket, and nothing more.

A transport delivers each complete text message to ``on_message`` as ``bytes``
or a ``memoryview`` of UTF-8 JSON.  **A memoryview is borrowed**: it is valid only
until ``on_message`` returns (it may point into the transport's receive buffer),
so a handler that keeps data must copy it.  Binary messages are delivered to
``on_binary`` (same validity rule) so the layer above can report them.

When the connection ends, for whatever reason, ``on_close(code, reason, exc)``
is called exactly once.  Every backend fills it in by one rule, so a given end
gives the same three values whichever backend carried the connection:

``code``/``reason`` are those of the close frame that ended the connection:

* the server's close frame, when it sent one before the client sent its own
  (a server-initiated close) or in answer to the client's (a clean close by
  the client: servers echo the client's code);
* otherwise the close frame the client sent: the ``code``/``reason`` given to
  :meth:`Transport.close` when the server never answered it, or, when the
  client failed the connection itself (RFC 6455 section 7.1.7), the code for
  the cause (``1002`` protocol error, ``1007`` invalid UTF-8 in a close frame,
  ``1009`` message over ``max_message_size``, ``1011`` keepalive timeout) with
  the reason from the ``REASON_*`` constants below.  Anything the server sends
  after the client failed the connection, its close frame included, is ignored;
* ``None``/``""`` when no close frame was exchanged (the TCP connection was
  reset or ended without one).

An empty close frame from the server reports ``1005`` and ``""``.

``exc`` is ``None`` for a clean close (a close frame from the server, whoever
started the closing handshake), and otherwise a
:class:`~realtime_fast.errors.TransportError` (carrying the same
``code``/``reason``) whose message is built from the ``ERROR_*`` templates
below, so it reads the same on every backend; the underlying library's
exception, if any, is its ``__cause__``.  The OS error of a lost connection
(``[Errno 104] Connection reset by peer``) is part of the message.

Sends never block: :meth:`Transport.send_text` queues the frame, frames leave in
the order they were queued, and :attr:`Transport.buffered_amount` says how many
bytes are still waiting.  :meth:`Transport.drain` waits until that drops to the
high-water mark (``DEFAULT_HIGH_WATER`` unless set), which is how a caller
applies back-pressure on a slow network: it returns as soon as the queue is at
or below the mark, not when the queue is empty.

Keepalive: with ``ping_interval`` set, every backend sends a ping every
``ping_interval`` seconds and fails the connection with ``1011``
(``KEEPALIVE_REASON``) when no pong arrives within another ``ping_interval``
seconds.  Every backend sends ``User-Agent: realtime-fast/<version>
Python/<major>.<minor>`` (``USER_AGENT_FORMAT``) unless the caller's headers
have a ``User-Agent`` of their own.

TLS and proxies: ``ssl`` is the :class:`ssl.SSLContext` for a ``wss://`` URL
(None: the default context, certificate and host name checks on); ``proxy``
is None (direct), an ``http://host:port`` HTTP CONNECT proxy, or ``"env"``
(the environment's ``HTTPS_PROXY`` / ``HTTP_PROXY``, read at each connection).
Both backends apply the one rule of :mod:`realtime_fast.transport._options`.
"""

from __future__ import annotations

import abc
import ssl as _ssl
from typing import Callable, Mapping, Sequence, Union

#: Largest message accepted from the server (bytes; 16 MiB).  The service's
#: messages are small (audio deltas of a few KB, ``session.*`` and
#: ``response.done`` of a few KB); the largest is an item retrieved with its
#: audio (``conversation.item.retrieved``), 64,000 bytes of base64 per second
#: of 24 kHz PCM16: 11.0 MiB for 3 minutes, so 16 MiB holds an item of 4 min
#: 22 s.  A larger message fails the connection with 1009.  The limit bounds
#: what one message can cost: the backend's receive buffer (picows keeps it,
#: grown to the next power of two above the largest message, for the life of
#: the connection) plus the parsed event (about the message's size).  It does
#: not apply to messages the client sends.
MAX_MESSAGE_SIZE: int = 16 * 1024 * 1024

#: Bytes queued for sending above which :meth:`Transport.drain` waits.
DEFAULT_HIGH_WATER: int = 1024 * 1024

#: The ``User-Agent`` both backends send when the caller's headers have none
#: (``version``: realtime_fast's, ``python``: ``major.minor``).
USER_AGENT_FORMAT: str = "realtime-fast/{version} Python/{python}"

# -- Close codes the client sends when it fails the connection (RFC 6455 section 7.4.1).

#: The server broke the protocol (a frame the client must reject).
CLOSE_PROTOCOL_ERROR: int = 1002
#: A close frame from the server whose reason is not valid UTF-8.
CLOSE_INVALID_DATA: int = 1007
#: A message from the server longer than ``max_message_size``.
CLOSE_MESSAGE_TOO_BIG: int = 1009
#: No pong answered a keepalive ping in time.
CLOSE_KEEPALIVE_TIMEOUT: int = 1011

# -- ``reason`` reported to ``on_close`` when the client failed the connection.
# The bytes each backend put in its own close frame may word the cause
# differently; ``on_close`` and the error always use these.

REASON_UNEXPECTED_CONTINUATION: str = "unexpected continuation frame"
REASON_EXPECTED_CONTINUATION: str = "expected a continuation frame"
REASON_RESERVED_BITS: str = "reserved bits set"
REASON_MASKED_FRAME: str = "masked frame from the server"
REASON_INVALID_OPCODE: str = "invalid opcode"
REASON_CONTROL_FRAME_TOO_LONG: str = "control frame too long"
REASON_FRAGMENTED_CONTROL_FRAME: str = "fragmented control frame"
REASON_INVALID_LENGTH: str = "invalid payload length"
REASON_INVALID_CLOSE_FRAME: str = "invalid close frame"
REASON_INVALID_CLOSE_UTF8: str = "invalid UTF-8 in a close frame"
REASON_MESSAGE_TOO_BIG: str = "message too big"
#: Also the reason both backends put in the 1011 close frame.
KEEPALIVE_REASON: str = "keepalive ping timeout"

# -- Error messages, formatted the same way by every backend (``str.format`` fields).

#: Protocol errors (``code`` 1002 or 1007).
ERROR_PROTOCOL: str = (
    "The server at {address} broke the WebSocket protocol ({reason}); the client closed the connection "
    "with {code}: check the server's WebSocket implementation."
)
#: A message over the limit (``code`` 1009; ``size``: the message's length in
#: bytes, or ``at least N`` for a fragmented message cut short).
ERROR_TOO_BIG: str = (
    "The server at {address} sent a message of {size} bytes, over max_message_size ({limit} bytes); the client "
    "closed the connection with 1009: raise max_message_size if such messages are expected."
)
#: Keepalive timeout (``code`` 1011).
ERROR_KEEPALIVE: str = (
    "The server at {address} did not answer a keepalive ping within {timeout:g} s; the client closed the "
    "connection with 1011: check the network, or raise ping_interval."
)
#: The connection ended without any close frame (``detail``: ``": <OS error>"`` or ``""``).
ERROR_LOST: str = "The connection to {address} was lost without a close frame{detail}."
#: The client sent a close frame and the connection ended before the answer
#: (``detail`` as for ``ERROR_LOST``).
ERROR_LOST_WHILE_CLOSING: str = "The connection to {address} was lost before the server answered the close frame{detail}."
#: The server did not answer :meth:`Transport.close` in time.
ERROR_CLOSE_TIMEOUT: str = (
    "The server at {address} did not answer the close frame within {timeout:g} s; the connection was aborted."
)
#: The TLS handshake failed (``detail``: ``certificate verify failed: <why>`` for a
#: certificate the client rejects, else OpenSSL's reason in lower case with spaces).
ERROR_TLS: str = (
    "The TLS handshake with {address} failed: {detail}; check the server's certificate "
    "(SSL_CERT_FILE selects other trusted roots)."
)
#: ``<why>`` for a certificate issued for other names than the URL's host
#: (OpenSSL's verify codes 62 and 64); other verify failures use OpenSSL's own text.
TLS_NAME_MISMATCH: str = "the certificate is not valid for {host!r}"
#: The host name does not resolve (``error``: the resolver's error).
ERROR_RESOLVE_FAILED: str = "Cannot resolve the host name of {address}: {error}; check the URL."
#: No address of the host accepted the TCP connection (``error``: the OS error(s), ``[Errno N] text``).
ERROR_CONNECT_FAILED: str = (
    "Cannot connect to {address}: {error}; check that the server is running and the address is right."
)
#: The server answered the upgrade with an HTTP error (``phrase``: the server's own reason phrase).
ERROR_HANDSHAKE_REJECTED: str = (
    "The server at {address} rejected the WebSocket upgrade with HTTP {status}{phrase}: check the URL, "
    "the API key and the headers."
)
#: The server selected a subprotocol the client did not offer (the offers are not
#: quoted: one may carry an API key).
ERROR_UNOFFERED_SUBPROTOCOL: str = (
    "The server at {address} selected the subprotocol {selected!r}, which was not offered: check the server's configuration."
)
#: The server closed or reset the TCP connection during the TLS or WebSocket
#: handshake (``detail``: ``" ([Errno N] text)"`` for a reset, else ``""``).
ERROR_HANDSHAKE_EOF: str = (
    "The server at {address} closed the connection during the handshake{detail}: check the URL (ws:// or "
    "wss://, host, port and path) and the server's logs."
)
#: The HTTP proxy could not be reached (``proxy``: its ``host:port``; ``error``: the OS or resolver error).
ERROR_PROXY_UNREACHABLE: str = "Cannot connect to the proxy at {proxy}: {error}; check the proxy URL and that the proxy is running."
#: The HTTP proxy answered the CONNECT request with an error status.
ERROR_PROXY_REFUSED: str = (
    "The proxy at {proxy} refused to open a tunnel to {address} with HTTP {status}: check the proxy's credentials "
    "and that it allows CONNECT to that host and port."
)
#: The HTTP proxy did not answer the CONNECT request properly (``detail``: one of the ``PROXY_*`` texts below).
ERROR_PROXY_FAILED: str = "The proxy at {proxy} did not open a tunnel to {address} ({detail}): check the proxy URL."
#: ``detail`` of ``ERROR_PROXY_FAILED``: the proxy hung up without answering.
PROXY_CLOSED: str = "it closed the connection before answering"
#: ``detail`` of ``ERROR_PROXY_FAILED``: the answer was not an HTTP response.
PROXY_INVALID_ANSWER: str = "its answer is not a valid HTTP response"
#: ``proxy=`` with a websockets release that has no proxy support.
ERROR_PROXY_NEEDS_WEBSOCKETS_15: str = (
    "proxy= needs websockets>=15.0 on the websockets transport (installed: {version}): upgrade websockets, "
    "or use transport='picows'."
)

MessageHandler = Callable[[Union[bytes, memoryview]], None]
CloseHandler = Callable[[Union[int, None], str, Union[BaseException, None]], None]


class Transport(abc.ABC):
    """One WebSocket client connection.  Subclasses implement one backend each."""

    #: Short backend name (``"websockets"``, ``"picows"``).
    name: str = ""

    @abc.abstractmethod
    async def connect(
        self,
        url: str,
        *,
        headers: Mapping[str, str],
        subprotocols: Sequence[str],
        on_message: MessageHandler,
        on_binary: MessageHandler,
        on_close: CloseHandler,
        open_timeout: float = 10.0,
        max_message_size: int = MAX_MESSAGE_SIZE,
        ping_interval: float | None = 20.0,
        ssl: _ssl.SSLContext | None = None,
        proxy: str | None = None,
    ) -> None:
        """Open the connection (``ws://``, or ``wss://`` with certificate checks on).

        ``ssl``: the SSLContext for ``wss://`` (None: the default one;
        ValueError with a ``ws://`` URL).  ``proxy``: None, an
        ``http://host:port`` URL or ``"env"`` (see the module docstring).
        Raises :class:`~realtime_fast.errors.HandshakeRejected` when the server
        answers the upgrade with an HTTP error, :class:`~realtime_fast.errors.ConnectTimeout`
        after ``open_timeout`` seconds, and :class:`~realtime_fast.errors.TransportError`
        (with the address and the OS error in its message) for anything else.
        The credentials in ``headers`` and ``subprotocols`` appear, shortened
        (``sk-...wxyz``), in none of these errors (message, attributes, chain)
        nor in anything the backend's library logs about the connection.
        ``max_message_size`` (bytes) bounds one message from the server: a
        larger one fails the connection with 1009 (``ERROR_TOO_BIG`` names its
        size and the limit).
        """

    @abc.abstractmethod
    def send_text(self, data: bytes | str) -> None:
        """Queue one text message (UTF-8 JSON).  Returns at once; raises TransportError when not open."""

    @abc.abstractmethod
    async def drain(self) -> None:
        """Wait until the bytes still queued for sending drop to the high-water mark."""

    @abc.abstractmethod
    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection cleanly (sends a close frame, waits briefly for the answer)."""

    @property
    @abc.abstractmethod
    def is_open(self) -> bool:
        """True while messages can be sent."""

    @property
    @abc.abstractmethod
    def buffered_amount(self) -> int:
        """Bytes queued for sending that have not been written to the socket yet."""

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server selected, if any."""
        return None
