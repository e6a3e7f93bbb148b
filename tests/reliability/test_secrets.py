"""Secrets of the OpenAI-compatible labeller (issue 11): the API key goes to the configured origin only — never
after a redirect to another one (a local server on another port records what reaches it), never over plain http to
a non-loopback host, never into messages or logs."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tuneshift.errors import InvalidParameterError, TuneshiftError
from tuneshift.interpret.labelers import ChatLabeler, is_loopback

KEY = "sk-test-5ecret-d0-not-leak"
ENV = "TUNESHIFT_TEST_SECRET_KEY"


def _recording_handler(seen: list[dict], status: int = 200, location: str = "") -> type[BaseHTTPRequestHandler]:
    """A chat endpoint that records the headers of every request; with `location`, answers `status` + Location."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers)})
            body = json.dumps({"choices": [{"message": {"role": "assistant", "content": "Cannot Tell"}}]}).encode()
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET = _answer

        def log_message(self, *args):
            pass

    return Handler


@contextmanager
def server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_to_another_origin_keeps_the_key(status, monkeypatch, caplog, capsys):
    monkeypatch.setenv(ENV, KEY)
    caplog.set_level(logging.DEBUG)
    at_target: list[dict] = []
    at_origin: list[dict] = []
    with server(_recording_handler(at_target)) as target:
        handler = _recording_handler(at_origin, status, f"{target}/v1/chat/completions")
        with server(handler) as origin:
            labeler = ChatLabeler(f"{origin}/v1", "m", api_key_env=ENV, timeout=5, retries=2)
            with pytest.raises(TuneshiftError, match=rf"redirect \(HTTP {status}\) to {target}.*refused") as error:
                labeler.label(["cat", "dog"])
    assert len(at_origin) == 1  # asked once: a redirect is not retried
    assert at_origin[0]["headers"]["Authorization"] == f"Bearer {KEY}"  # the configured origin gets the key
    assert at_target == []  # nothing, key or not, reached the other port
    printed = capsys.readouterr()
    assert KEY not in str(error.value) + caplog.text + printed.out + printed.err


def test_the_configured_endpoint_answers(monkeypatch):
    """The control: without a redirect the same server's answer is used."""
    monkeypatch.setenv(ENV, KEY)
    seen: list[dict] = []
    with server(_recording_handler(seen)) as origin:
        label = ChatLabeler(origin, "m", api_key_env=ENV, timeout=5, retries=0).label(["a", "b"])
    assert label.summary == "Cannot Tell" and not label.explainable
    assert [request["path"] for request in seen] == ["/v1/chat/completions"]


@pytest.mark.parametrize(
    "url",
    ["http://api.example.com/v1", "http://10.0.0.5:8000", "http://[2001:db8::1]:8000/v1", "ftp://127.0.0.1/v1"],
)
def test_plain_http_only_for_loopback(url):
    with pytest.raises(InvalidParameterError, match="base_url"):
        ChatLabeler(url, "m")


@pytest.mark.parametrize(
    "url", ["https://api.example.com/v1", "http://127.0.0.1:8000", "http://localhost:1/v1", "http://[::1]:8000"]
)
def test_https_or_loopback_accepted(url):
    assert ChatLabeler(url, "m").url.endswith("/chat/completions")


def test_loopback_hosts():
    assert [is_loopback(h) for h in ("127.0.0.1", "127.8.0.1", "::1", "localhost", "a.localhost")] == [True] * 5
    assert [is_loopback(h) for h in ("10.0.0.1", "example.com", "localhost.example.com", "", None)] == [False] * 5


def test_credentials_in_the_url_are_refused_without_echoing_them():
    with pytest.raises(InvalidParameterError) as error:
        ChatLabeler(f"https://user:{KEY}@api.example.com/v1", "m")
    assert KEY not in str(error.value) and "user:password@" in str(error.value)


def test_a_failing_endpoint_never_shows_the_key(monkeypatch, caplog):
    monkeypatch.setenv(ENV, KEY)
    caplog.set_level(logging.DEBUG)
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    labeler = ChatLabeler(f"http://127.0.0.1:{port}/v1", "m", api_key_env=ENV, timeout=2, retries=0)
    assert KEY not in repr(vars(labeler))  # the key is read per request, not kept
    with pytest.raises(TuneshiftError, match="failed after 1 tries") as error:
        labeler.label(["a"])
    assert KEY not in str(error.value) + caplog.text
    seen: list[dict] = []
    with server(_recording_handler(seen, status=401)) as origin:
        with pytest.raises(TuneshiftError, match="HTTP 401") as error:
            ChatLabeler(origin, "m", api_key_env=ENV, timeout=5, retries=2).label(["a"])
    assert len(seen) == 1 and KEY not in str(error.value)  # a refused key is not retried
