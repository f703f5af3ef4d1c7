"""Health answers count only from the process trtl started: a real socket, a real owner."""

from __future__ import annotations

import http.server
import os
import subprocess
import threading

import pytest
from trtl.launcher.planning.ports import free_ports
from trtl.launcher.supervision.probe import Prober, Registered, Usurped, _Client


class _Ready(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # the standard library names it so
        body = b'{"status": "ready"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server():
    port = free_ports(1, exclude=set())[0]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Ready)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield port
    httpd.shutdown()
    httpd.server_close()


def _poll(port: int, owner_pid: int) -> list[object]:
    events: list[object] = []
    closed = free_ports(1, exclude={port})[0]
    prober = Prober(f"http://127.0.0.1:{closed}", "m", {"worker-0": port}, events.append,
                    lambda _name: owner_pid)  # fmt: skip
    client = _Client(timeout=2)
    try:
        prober._poll(client)
        prober._poll(client)  # reported once, not at every poll
    finally:
        client.close()
    return events


def test_an_answer_from_another_program_is_reported_and_not_believed(server):
    worker = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        events = _poll(server, worker.pid)
    finally:
        worker.kill()
        worker.wait()
    usurped = [e for e in events if isinstance(e, Usurped)]
    assert len(usurped) == 1 and usurped[0].name == "worker-0" and usurped[0].port == server
    assert usurped[0].holder.startswith(f"another program (pid {os.getpid()}")
    assert Registered("worker-0", True) not in events


def test_an_answer_from_the_process_itself_is_believed(server):
    events = _poll(server, os.getpid())
    assert Registered("worker-0", True) in events
    assert not any(isinstance(e, Usurped) for e in events)
