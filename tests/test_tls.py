"""TLS and proxy options (``ssl=``, ``proxy=``) on both transports, against the mock server over ``wss://``.

A throwaway CA, a server certificate for 127.0.0.1 and a client certificate are
made here with ``cryptography``; an HTTP CONNECT proxy written for these tests
records what it is asked and pipes the bytes through.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from realtime_fast import RealtimeAPI, RealtimeClient
from realtime_fast.errors import TransportError
from realtime_fast.mock import MockRealtimeServer
from realtime_fast.mock.server import spawn_mock_server
from realtime_fast.transport import base, create_transport

from _realtime_helpers import KEY, EventLog, transport_name  # noqa: F401

x509 = pytest.importorskip("cryptography.x509", reason="the TLS tests make their certificates with cryptography")

pytestmark = pytest.mark.timeout(60)

WAIT = 10.0
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def _no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sets the proxy variables it needs; none leak in from the machine."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


# ------------------------------------------------------------------ certificates


@dataclass
class Pki:
    """PEM files of a throwaway CA, a server certificate (127.0.0.1, localhost) and a client certificate."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def server_context(self, *, require_client_cert: bool = False) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.server_cert, self.server_key)
        if require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(self.ca)
        return context

    def client_context(self, *, with_client_cert: bool = False) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca))
        if with_client_cert:
            context.load_cert_chain(self.client_cert, self.client_key)
        return context


def _make_pki(folder: Path) -> Pki:
    import ipaddress

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(common_name: str) -> Any:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    def write_key(key: Any, path: Path) -> None:
        path.write_bytes(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("realtime_fast test CA"))
        .issuer_name(name("realtime_fast test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(common_name: str, usage: Any, names: list[Any]) -> tuple[Any, Any]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(common_name))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        )
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(ca_key, hashes.SHA256()), key

    server_cert, server_key = leaf(
        "127.0.0.1",
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")],
    )
    client_cert, client_key = leaf("realtime_fast test client", ExtendedKeyUsageOID.CLIENT_AUTH, [])
    pki = Pki(
        folder / "ca.pem", folder / "server.pem", folder / "server.key", folder / "client.pem", folder / "client.key"
    )
    pki.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.server_cert.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    write_key(server_key, pki.server_key)
    pki.client_cert.write_bytes(client_cert.public_bytes(serialization.Encoding.PEM))
    write_key(client_key, pki.client_key)
    return pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return _make_pki(tmp_path_factory.mktemp("pki"))


@contextlib.asynccontextmanager
async def wss_mock(pki: Pki, **options: Any) -> AsyncIterator[MockRealtimeServer]:
    """The mock server on ``wss://127.0.0.1`` with the test CA's server certificate."""
    require = options.pop("require_client_cert", False)
    async with MockRealtimeServer(profile="fast", ssl=pki.server_context(require_client_cert=require), **options) as mock:
        yield mock


async def assistant_reply(client: RealtimeClient, mock: MockRealtimeServer, text: str) -> str:
    """Send ``text``; return the transcript of the assistant's answer (the whole session path works)."""
    log = EventLog(client, ["conversation.item.completed"])
    client.send_user_message_content([{"type": "input_text", "text": text}])
    item = (await log.wait_for("conversation.item.completed", lambda e: e["item"]["role"] == "assistant", timeout=WAIT))["item"]
    return item["formatted"]["transcript"]


def address_of(url: str) -> str:
    host_port = url.split("://", 1)[1].split("/", 1)[0]
    return host_port


# ------------------------------------------------------------------ ssl=


async def test_a_private_ca_in_ssl_carries_a_whole_session(transport_name: str, pki: Pki) -> None:
    async with wss_mock(pki) as mock:
        assert mock.url.startswith("wss://127.0.0.1:")
        mock.script.add_rule("hello", "Hi over TLS.")
        async with RealtimeClient(mock.url, KEY, transport=transport_name, ssl=pki.client_context()) as client:
            await client.wait_for_session_created()
            assert client.realtime.transport.name == transport_name
            assert await assistant_reply(client, mock, "hello there") == "Hi over TLS."


async def test_without_the_ca_the_certificate_is_refused(transport_name: str, pki: Pki) -> None:
    async with wss_mock(pki) as mock:
        client = RealtimeClient(mock.url, KEY, transport=transport_name)  # the default context: system roots only
        with pytest.raises(TransportError) as info:
            await client.connect()
    assert str(info.value) == base.ERROR_TLS.format(
        address=address_of(mock.url), detail="certificate verify failed: unable to get local issuer certificate"
    )
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
    assert not client.is_connected() and mock.connection_log == []


async def test_a_client_certificate_in_the_context_is_presented(transport_name: str, pki: Pki) -> None:
    async with wss_mock(pki, require_client_cert=True) as mock:
        mock.script.add_rule("hello", "I know who you are.")
        context = pki.client_context(with_client_cert=True)
        async with RealtimeClient(mock.url, KEY, transport=transport_name, ssl=context) as client:
            await client.wait_for_session_created()
            assert await assistant_reply(client, mock, "hello") == "I know who you are."


async def test_without_the_required_client_certificate_the_connection_fails(transport_name: str, pki: Pki) -> None:
    async with wss_mock(pki, require_client_cert=True) as mock:
        client = RealtimeClient(mock.url, KEY, transport=transport_name, ssl=pki.client_context(), connect_timeout=5)
        with pytest.raises(TransportError) as info:
            await client.connect()
    # TLS 1.3: the client's side of the TLS handshake is done when the server refuses, so
    # the refusal ends the WebSocket upgrade; neither library surfaces the TLS alert there.
    assert str(info.value) == base.ERROR_HANDSHAKE_EOF.format(address=address_of(mock.url), detail="")
    assert not client.is_connected()


def test_ssl_with_a_ws_url_is_a_value_error(pki: Pki) -> None:
    context = pki.client_context()
    for cls in (RealtimeClient, RealtimeAPI):
        with pytest.raises(ValueError, match=r"ssl= was given for 'ws://127.0.0.1:9/v1/realtime', a ws:// URL without TLS"):
            cls("ws://127.0.0.1:9/v1/realtime", KEY, ssl=context)
    with pytest.raises(TypeError, match="ssl must be an ssl.SSLContext"):
        RealtimeClient(ssl=True)  # type: ignore[arg-type]
    RealtimeClient("wss://example.test/v1/realtime", KEY, ssl=context)  # fine


async def test_each_transport_refuses_ssl_with_a_ws_url(transport_name: str, pki: Pki) -> None:
    transport = create_transport(transport_name)
    with pytest.raises(ValueError, match="a ws:// URL without TLS"):
        await transport.connect(
            "ws://127.0.0.1:9/v1/realtime",
            headers={},
            subprotocols=[],
            on_message=lambda data: None,
            on_binary=lambda data: None,
            on_close=lambda code, reason, exc: None,
            ssl=pki.client_context(),
        )
    assert not transport.is_open


def test_the_context_stays_out_of_repr(pki: Pki) -> None:
    context = pki.client_context()
    client = RealtimeClient("wss://example.test/v1/realtime", KEY, ssl=context)
    assert client.realtime.ssl is context
    for text in (repr(client), repr(client.realtime)):
        assert "SSLContext" not in text and "ssl" not in text


@pytest.mark.parametrize("spec", ["name", "instance"])
async def test_reconnect_keeps_the_context(transport_name: str, pki: Pki, spec: str) -> None:
    transport: Any = transport_name if spec == "name" else create_transport(transport_name)
    async with wss_mock(pki, max_session_seconds=0.3) as mock:
        client = RealtimeClient(
            mock.url, KEY, transport=transport, ssl=pki.client_context(), reconnect=True, reconnect_delay=0.01
        )
        log = EventLog(client, ["close", "reconnected", "error"])
        await client.connect()
        first = client.realtime.transport
        await client.wait_for_session_created()
        close = await log.wait_for("close", timeout=WAIT)
        mock.max_session_seconds = 60  # the next session lives on
        assert close["code"] == 1001 and close["reconnecting"] is True
        await log.wait_for("reconnected", timeout=WAIT)
        assert client.is_connected() and client.realtime.transport is not first
        failed = [e for e in log.of("error") if e["source"] == "transport" and "Reconnect attempt" in e["message"]]
        assert failed == []  # no failed attempt (the 1001 close itself is reported as an error too)
        mock.script.add_rule("again", "Still encrypted.")
        assert await assistant_reply(client, mock, "again") == "Still encrypted."
        assert len(mock.connection_log) == 2
        await client.disconnect()


# ------------------------------------------------------------------ the mock server over wss


async def test_the_mock_server_takes_only_a_server_context() -> None:
    with pytest.raises(TypeError, match="ssl must be a server ssl.SSLContext"):
        MockRealtimeServer(ssl="cert.pem")  # type: ignore[arg-type]
    async with MockRealtimeServer(profile="fast") as plain:
        assert plain.url.startswith("ws://")


@pytest.mark.slow
async def test_the_mock_server_command_serves_wss(pki: Pki) -> None:
    loop = asyncio.get_running_loop()
    handle = await loop.run_in_executor(
        None,
        lambda: spawn_mock_server(extra_args=["--certfile", str(pki.server_cert), "--keyfile", str(pki.server_key)]),
    )
    try:
        assert handle.url is not None and handle.url.startswith("wss://127.0.0.1:")
        async with RealtimeClient(handle.url, KEY, ssl=pki.client_context()) as client:
            await client.wait_for_session_created()
    finally:
        await loop.run_in_executor(None, handle.stop)


# ------------------------------------------------------------------ proxy=


class ConnectProxy:
    """An HTTP CONNECT proxy on loopback: records each request, answers ``status``, then pipes both ways.

    ``credentials`` (``user:password``): requests without that Basic
    ``Proxy-Authorization`` get 407.
    """

    def __init__(self, status: int = 200, credentials: str | None = None) -> None:
        self.status = status
        self.credentials = credentials
        #: (method, target, headers with lower-case names) of each request.
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.url = ""
        self._server: asyncio.AbstractServer | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> ConnectProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()

    @property
    def targets(self) -> list[str]:
        return [target for method, target, _ in self.requests if method == "CONNECT"]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        request_line, *lines = head.split("\r\n")
        method, target, _ = request_line.split(" ", 2)
        headers = {key.strip().lower(): value.strip() for key, value in (line.split(":", 1) for line in lines if line)}
        self.requests.append((method, target, headers))
        status = self.status
        if self.credentials is not None:
            expected = "Basic " + base64.b64encode(self.credentials.encode()).decode()
            if headers.get("proxy-authorization") != expected:
                status = 407
        if method != "CONNECT" or status != 200:
            writer.write(f"HTTP/1.1 {status} No\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            writer.close()
            return
        host, _, port = target.rpartition(":")
        up_reader, up_writer = await asyncio.open_connection(host.strip("[]"), int(port))
        self._writers.append(up_writer)
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


@pytest.mark.parametrize("scheme", ["ws", "wss"])
async def test_a_session_through_an_http_proxy(transport_name: str, pki: Pki, scheme: str) -> None:
    mock_options: dict[str, Any] = {"ssl": pki.server_context()} if scheme == "wss" else {}
    client_options: dict[str, Any] = {"ssl": pki.client_context()} if scheme == "wss" else {}
    async with ConnectProxy() as proxy, MockRealtimeServer(profile="fast", **mock_options) as mock:
        mock.script.add_rule("hello", "Via the proxy.")
        async with RealtimeClient(mock.url, KEY, transport=transport_name, proxy=proxy.url, **client_options) as client:
            await client.wait_for_session_created()
            assert await assistant_reply(client, mock, "hello") == "Via the proxy."
        assert proxy.targets == [f"127.0.0.1:{mock.port}"]
        [(_, _, headers)] = proxy.requests
        assert "authorization" not in headers  # the API key goes to the server, inside the tunnel, never to the proxy


async def test_proxy_credentials_go_in_proxy_authorization(transport_name: str) -> None:
    async with ConnectProxy(credentials="user:secret") as proxy, MockRealtimeServer(profile="fast") as mock:
        with_credentials = proxy.url.replace("http://", "http://user:secret@")
        client = RealtimeClient(mock.url, KEY, transport=transport_name, proxy=with_credentials)
        assert "secret" not in repr(client) and "proxy='http://***@127.0.0.1:" in repr(client)
        await client.connect()
        await client.wait_for_session_created()
        await client.disconnect()
        assert proxy.targets == [f"127.0.0.1:{mock.port}"]


async def test_a_proxy_refusal_names_the_proxy_and_the_status(transport_name: str) -> None:
    async with ConnectProxy(status=403) as proxy, MockRealtimeServer(profile="fast") as mock:
        client = RealtimeClient(mock.url, KEY, transport=transport_name, proxy=proxy.url)
        with pytest.raises(TransportError) as info:
            await client.connect()
    assert str(info.value) == base.ERROR_PROXY_REFUSED.format(
        proxy=address_of(proxy.url), address=f"127.0.0.1:{mock.port}", status=403
    )
    assert mock.connection_log == []


async def test_missing_proxy_credentials_are_a_407(transport_name: str) -> None:
    async with ConnectProxy(credentials="user:secret") as proxy, MockRealtimeServer(profile="fast") as mock:
        client = RealtimeClient(mock.url, KEY, transport=transport_name, proxy=proxy.url)
        with pytest.raises(TransportError, match="refused to open a tunnel .* with HTTP 407"):
            await client.connect()


async def test_an_unreachable_proxy_is_named(transport_name: str) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with MockRealtimeServer(profile="fast") as mock:
        client = RealtimeClient(mock.url, KEY, transport=transport_name, proxy=f"http://127.0.0.1:{port}")
        with pytest.raises(TransportError) as info:
            await client.connect()
    message = str(info.value)
    assert message.startswith(f"Cannot connect to the proxy at 127.0.0.1:{port}: [Errno ")
    assert message.endswith("; check the proxy URL and that the proxy is running.")
    assert mock.connection_log == []


async def test_a_proxy_that_hangs_up_is_reported_the_same_way(transport_name: str) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        client = RealtimeClient("ws://127.0.0.1:9/v1/realtime", KEY, transport=transport_name, proxy=f"http://127.0.0.1:{port}")
        with pytest.raises(TransportError) as info:
            await client.connect()
    finally:
        server.close()
        await server.wait_closed()
    assert str(info.value) == base.ERROR_PROXY_FAILED.format(
        proxy=f"127.0.0.1:{port}", address="127.0.0.1:9", detail=base.PROXY_CLOSED
    )


@pytest.mark.parametrize("proxy", ["socks5://127.0.0.1:1080", "https://127.0.0.1:3128", "http://", "http://h:99999", "http://h:3128/path"])
def test_only_http_connect_proxy_urls_are_accepted(proxy: str) -> None:
    with pytest.raises(ValueError, match="proxy is"):
        RealtimeClient(proxy=proxy)
    with pytest.raises(TypeError, match="proxy must be None, 'env' or an http://host:port URL"):
        RealtimeClient(proxy=True)  # type: ignore[arg-type]


# -- the environment: read only with proxy="env"


async def test_by_default_the_proxy_variables_are_ignored(transport_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with ConnectProxy() as proxy, MockRealtimeServer(profile="fast") as mock:
        for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
            monkeypatch.setenv(name, proxy.url)
        async with RealtimeClient(mock.url, KEY, transport=transport_name) as client:
            await client.wait_for_session_created()
        assert proxy.requests == []


@pytest.mark.parametrize("scheme", ["ws", "wss"])
async def test_proxy_env_takes_the_variable_of_the_scheme(
    transport_name: str, pki: Pki, scheme: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_options: dict[str, Any] = {"ssl": pki.server_context()} if scheme == "wss" else {}
    client_options: dict[str, Any] = {"ssl": pki.client_context()} if scheme == "wss" else {}
    async with ConnectProxy() as used, ConnectProxy() as other, MockRealtimeServer(profile="fast", **mock_options) as mock:
        variable, other_variable = ("HTTPS_PROXY", "HTTP_PROXY") if scheme == "wss" else ("HTTP_PROXY", "HTTPS_PROXY")
        monkeypatch.setenv(variable, used.url.removeprefix("http://"))  # no scheme: http:// is meant
        monkeypatch.setenv(other_variable, other.url)
        async with RealtimeClient(mock.url, KEY, transport=transport_name, proxy="env", **client_options) as client:
            await client.wait_for_session_created()
        assert used.targets == [f"127.0.0.1:{mock.port}"] and other.requests == []


async def test_proxy_env_is_read_at_each_connection_and_honours_no_proxy(
    transport_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ConnectProxy() as proxy, MockRealtimeServer(profile="fast") as mock:
        client = RealtimeClient(mock.url, KEY, transport=transport_name, proxy="env")
        await client.connect()  # no variable set: direct
        await client.disconnect()
        monkeypatch.setenv("http_proxy", proxy.url)
        monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
        await client.connect()  # the host is in no_proxy: direct
        await client.disconnect()
        assert proxy.requests == []
        monkeypatch.delenv("no_proxy")
        await client.connect()
        await client.disconnect()
        assert proxy.targets == [f"127.0.0.1:{mock.port}"] and len(mock.connection_log) == 3


async def test_proxy_env_with_an_unsupported_proxy_fails_clearly(transport_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "socks5://127.0.0.1:1080")
    client = RealtimeClient("wss://127.0.0.1:9/v1/realtime", KEY, transport=transport_name, proxy="env")
    with pytest.raises(ValueError, match="HTTPS_PROXY is 'socks5://127.0.0.1:1080': only HTTP CONNECT proxies are supported"):
        await client.connect()


async def test_an_old_websockets_says_which_release_a_proxy_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    import websockets

    from realtime_fast.transport import websockets_transport

    monkeypatch.setattr(websockets_transport, "_PROXY_SUPPORTED", False)
    client = RealtimeClient("ws://127.0.0.1:9/v1/realtime", KEY, transport="websockets", proxy="http://127.0.0.1:3128")
    with pytest.raises(RuntimeError) as info:
        await client.connect()
    assert str(info.value) == base.ERROR_PROXY_NEEDS_WEBSOCKETS_15.format(version=websockets.__version__)
    assert "websockets>=15.0" in str(info.value)
