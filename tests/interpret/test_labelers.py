"""Concept labellers: reply parsing, the OpenAI-compatible backend against a local HTTP server, the lexicon rules."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from tuneshift.errors import TuneshiftError
from tuneshift.interpret import labelers
from tuneshift.interpret.labelers import ChatLabeler, LexiconLabeler, parse_level, parse_summary, parse_tasks


def test_parse_replies():
    assert parse_summary("  programing languages.\n") == ("programing languages", True)
    assert parse_summary("cannot tell.") == (labelers.CANNOT_TELL, False)
    assert parse_tasks("daily writing; solving math problems") == ("writing", "math")
    assert parse_tasks("Coding;translation") == ("coding", "translation")
    assert parse_tasks("None") == ("none",)
    assert parse_level("Semantic") == "semantics"
    assert parse_level("Morphology (maybe syntax)") == "morphology"
    assert parse_level("I am not sure") == ""
    assert labelers.chat_completions_url("http://h:1/v1/") == "http://h:1/v1/chat/completions"
    assert labelers.chat_completions_url("http://h:1") == "http://h:1/v1/chat/completions"


class _FakeChat(BaseHTTPRequestHandler):
    """Answers like a chat model: the summary prompt → "programming terms.", the task prompt → "coding", the level
    prompt → "Semantic". Records every request body and the Authorization header."""

    requests: ClassVar[list] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append((self.path, self.headers.get("Authorization"), body))
        system = body["messages"][0]["content"]
        reply = (
            "coding" if "assistant tasks" in system else "Semantic" if "linguist" in system else "programming terms."
        )
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def chat_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeChat)
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    _FakeChat.requests = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_chat_labeler_runs_the_three_paper_prompts(chat_server, monkeypatch):
    monkeypatch.setenv("TEST_LABELER_KEY", "sk-test")
    labeler = ChatLabeler(chat_server, "tiny-chat", api_key_env="TEST_LABELER_KEY", timeout=5, retries=0)
    label = labeler.label(["def", "return", "import"])
    assert label == labelers.Label("programming terms", True, ("coding",), "semantics")
    paths, auths, bodies = zip(*_FakeChat.requests, strict=True)
    assert paths == ("/v1/chat/completions",) * 3 and set(auths) == {"Bearer sk-test"}
    first = bodies[0]
    assert first["model"] == "tiny-chat" and first["temperature"] == 1.0 and first["top_p"] == 0.9
    assert first["messages"][0] == {"role": "system", "content": labelers.SUMMARY_PROMPT}
    assert len(first["messages"]) == 2 + 2 * len(labelers.SUMMARY_EXAMPLES)
    assert first["messages"][-1] == {"role": "user", "content": "Words: def, return, import."}
    assert bodies[1]["messages"][-1]["content"] == "Concept: Words are programming terms"
    assert bodies[1]["temperature"] == 0.0


def test_chat_labeler_reports_an_unreachable_endpoint():
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    labeler = ChatLabeler(f"http://127.0.0.1:{port}/v1", "m", timeout=2, retries=0)
    with pytest.raises(TuneshiftError, match="failed after 1 tries"):
        labeler.label(["a", "b"])


@pytest.mark.parametrize(
    ("words", "tasks", "level"),
    [
        (["light", "night", "bright", "fight", "might", "sight"], ("none",), "phonology"),
        (["running", "jumping", "eating", "cooking", "sea"], ("none",), "morphology"),
        (["NASA", "FBI", "CPU", "HTML", "USA", "sea"], ("none",), "morphology"),
        (["the", "of", "and", "to", ".", ","], ("none",), "syntax"),
        (["def", "return", "import", "self", "numThreads", "x"], ("coding",), "semantics"),
        (["1950", "1980", "12", "3.5", "+", "sea"], ("math",), "semantics"),
        (["bonjour", "merci", "maison", "voiture", "avec", "sea"], ("translation",), "semantics"),
        (["cémber", "zxqv", "qwrt", "sea"], ("none",), "morphology"),
    ],
)
def test_lexicon_labeler_rules(words, tasks, level):
    label = LexiconLabeler().label(words)
    assert (label.tasks, label.level, label.explainable) == (tasks, level, True)


def test_lexicon_labeler_cannot_tell_unlisted_topics():
    assert LexiconLabeler().label(["cat", "dog", "horse", "cow", "sheep", "goat"]).explainable is False
    assert LexiconLabeler().label([]).summary == labelers.CANNOT_TELL
