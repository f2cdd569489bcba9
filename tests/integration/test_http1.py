"""``integrations.http1.Http1Transport`` (the webhook client's transport) against raw, scripted servers
on 127.0.0.1: the answers httpcore's tests cover, each classified by ``WebhookSender`` as the outcome
table in ``integrations.senders`` says. No database; nothing asserts on elapsed wall time.
"""

from __future__ import annotations

import asyncio
import socket
import ssl

import httpx
import pytest

from integrations.senders import Http1Transport, OutgoingMessage, WebhookSender, make_webhook_client

SECRET = b"test-secret"


def msg(url: str, n: int = 1) -> OutgoingMessage:
    return OutgoingMessage(n, f"key-{n}", "webhook", url, "ops", "Reminder", "Task 12 是否已处理", {"n": n})


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    size = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                 if line.lower().startswith(b"content-length")), 0)
    return head + await reader.readexactly(size)


def run(handler, *sends, transport=None, timeout=None):
    """Serve each connection with ``handler(reader, writer, requests)``; send the messages ``sends``
    (in order) through one ``WebhookSender``; return the results and the requests received."""
    requests: list[bytes] = []

    async def go():
        server = await asyncio.start_server(lambda r, w: handler(r, w, requests), "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
        client = (httpx.AsyncClient(transport=transport, timeout=timeout) if transport
                  else make_webhook_client(5.0, pools=1))
        async with server, client:
            sender = WebhookSender(client, SECRET, 5.0)
            out = []
            for s in sends:
                out.append(await (s(sender, url) if callable(s) else sender.send(msg(url))))
            return out
    return asyncio.run(go()), requests


async def answer(writer, raw: bytes) -> None:
    writer.write(raw)
    await writer.drain()


def keep_alive(conns: list, raw: bytes, delay: float = 0.0):
    """A handler answering ``raw`` to every request on a connection after ``delay``; counts connections."""
    async def handler(reader, writer, requests):
        conns.append(writer)
        while True:
            try:
                requests.append(await read_request(reader))
            except asyncio.IncompleteReadError:
                return
            await asyncio.sleep(delay)
            await answer(writer, raw)
    return handler


def test_keep_alive_reuses_one_connection_and_the_body_arrives_whole():
    conns: list = []
    results, requests = run(keep_alive(conns, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), "a", "b", "c")
    assert [r.outcome for r in results] == ["delivered"] * 3
    assert len(conns) == 1 and len(requests) == 3
    assert requests[0].startswith(b"POST /hook HTTP/1.1\r\n")
    assert b"\r\nidempotency-key: key-1\r\n" in requests[0].lower()
    assert "是否".encode() in requests[0]


def test_chunked_error_body_and_connection_close_are_read_and_classified():
    async def handler(reader, writer, requests):
        requests.append(await read_request(reader))
        await answer(writer, b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\nRetry-After: 7\r\n"
                             b"Connection: close\r\n\r\n4\r\nbusy\r\n5\r\n, try\r\n0\r\n\r\n")
        writer.close()
    results, requests = run(handler, "a", "b")
    assert [(r.outcome, r.status_code, r.retry_after) for r in results] == [("retry", 503, 7.0)] * 2
    assert results[0].error == "HTTP 503: busy, try"


def test_interim_100_then_answer_until_close_on_http10():
    async def handler(reader, writer, requests):
        requests.append(await read_request(reader))
        await answer(writer, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 404 Not Found\r\n\r\nno such hook")
        writer.close()
    results, _ = run(handler, "a", "b")
    assert [(r.outcome, r.status_code) for r in results] == [("failed", 404)] * 2
    assert results[0].error == "HTTP 404: no such hook"


def test_closed_after_the_request_arrived_is_unknown_the_receiver_may_have_it():
    async def handler(reader, writer, requests):
        requests.append(await read_request(reader))
        writer.close()
    results, requests = run(handler, "a")
    assert results[0].outcome == "unknown" and "RemoteProtocolError" in results[0].error
    assert len(requests) == 1


def test_a_2xx_head_then_a_cut_body_is_delivered():
    async def handler(reader, writer, requests):
        requests.append(await read_request(reader))
        await answer(writer, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok")
        writer.close()
    results, _ = run(handler, "a")
    assert results[0].outcome == "delivered"  # the 2xx head arrived: accepted, as with httpcore


def test_idle_connection_closed_by_the_receiver_is_not_reused():
    async def handler(reader, writer, requests):
        requests.append(await read_request(reader))
        await answer(writer, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        writer.close()  # no "Connection: close": the client notices the close itself

    async def later(sender, url):
        await asyncio.sleep(0.1)
        return await sender.send(msg(url, 2))
    results, requests = run(handler, "a", later)
    assert [r.outcome for r in results] == ["delivered", "delivered"] and len(requests) == 2


def test_a_garbled_answer_is_a_protocol_error_after_sending():
    async def handler(reader, writer, requests):
        requests.append(await read_request(reader))
        await answer(writer, b"SSH-2.0-OpenSSH\r\n\r\n")
    results, _ = run(handler, "a")
    assert results[0].outcome == "unknown" and "RemoteProtocolError" in results[0].error


def test_refused_is_retry_and_nothing_was_sent():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def go():
        async with make_webhook_client(5.0) as c:
            return await WebhookSender(c, SECRET, 5.0).send(msg(f"http://127.0.0.1:{port}/gone"))
    result = asyncio.run(go())
    assert result.outcome == "retry" and "ConnectError" in result.error and "nothing was sent" in result.error


def test_no_free_connection_within_the_pool_timeout_is_retry():
    async def handler(reader, writer, requests):
        requests.append(await read_request(reader))
        await reader.read()  # never answers

    async def both(sender, url):
        return await asyncio.gather(sender.send(msg(url, 1)), sender.send(msg(url, 2)))
    [(first, second)], requests = run(handler, both, transport=Http1Transport(max_connections=1),
                                      timeout=httpx.Timeout(5.0, read=0.5, pool=0.2))
    assert second.outcome == "retry" and "PoolTimeout" in second.error
    assert first.outcome == "unknown" and "ReadTimeout" in first.error
    assert len(requests) == 1


def test_many_in_flight_share_a_bounded_pool():
    conns: list = []
    handler = keep_alive(conns, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", delay=0.01)

    async def many(sender, url):
        return await asyncio.gather(*(sender.send(msg(url, i)) for i in range(40)))
    [results], requests = run(handler, many, transport=Http1Transport(max_connections=5), timeout=5.0)
    assert {r.outcome for r in results} == {"delivered"} and len(requests) == 40
    assert len(conns) <= 5


def _self_signed(tmp_path):
    """A certificate for localhost / 127.0.0.1 and its key, as PEM files."""
    x509 = pytest.importorskip("cryptography.x509")
    import datetime
    import ipaddress

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


def test_https_is_delivered_when_trusted_and_refused_before_sending_when_not(tmp_path):
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    conns: list = []
    handler = keep_alive(conns, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    async def go():
        requests: list[bytes] = []
        server = await asyncio.start_server(lambda r, w: handler(r, w, requests), "127.0.0.1", 0, ssl=server_ctx)
        url = f"https://localhost:{server.sockets[0].getsockname()[1]}/hook"
        trusted = httpx.AsyncClient(transport=Http1Transport(verify=ssl.create_default_context(cafile=cert)))
        async with server, trusted, httpx.AsyncClient(transport=Http1Transport()) as stock_trust:
            ok = [await WebhookSender(trusted, SECRET, 5.0).send(msg(url, i)) for i in range(2)]
            refused = await WebhookSender(stock_trust, SECRET, 5.0).send(msg(url, 3))
        return ok, refused, requests
    ok, refused, requests = asyncio.run(go())
    assert [r.outcome for r in ok] == ["delivered", "delivered"] and len(requests) == 2 and len(conns) == 1
    assert refused.outcome == "retry" and "CERTIFICATE_VERIFY_FAILED" in refused.error
