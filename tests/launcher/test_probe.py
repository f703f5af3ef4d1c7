"""Reading readiness from what Dynamo's frontend and workers answer (bodies as measured)."""

from __future__ import annotations

import queue
import socket
import time

from trtl.launcher.planning.ports import free_ports
from trtl.launcher.supervision.probe import (
    Prober,
    Registered,
    Silent,
    model_listed,
    worker_registered,
)


def test_model_listed_needs_the_served_name():
    body = {"object": "list", "data": [{"id": "tiny", "object": "model"}]}
    assert model_listed(body, "tiny")
    assert not model_listed(body, "other")
    assert not model_listed({"object": "list", "data": []}, "tiny")
    assert not model_listed(None, "tiny")


def test_worker_registered_from_status_server_answers():
    # A mocker without health checks: 503 for life, but its endpoints turn ready.
    registered = {"status": "notready", "endpoints": {"generate": "ready"}}
    starting = {"status": "notready", "endpoints": {}}
    assert worker_registered(503, registered)
    assert not worker_registered(503, starting)
    assert not worker_registered(503, {"status": "notready", "endpoints": {"generate": "x"}})
    # With DYN_HEALTH_CHECK_ENABLED (what trtl sets), or a real trtllm worker: 200 ready.
    assert worker_registered(200, {"status": "ready"})
    assert not worker_registered(503, None)


def test_a_process_that_accepts_but_never_answers_is_silent_and_a_closed_port_is_not():

    # A listening socket nobody reads from: the kernel accepts connections, no answer comes,
    # exactly what a SIGSTOPped worker's status server looks like from outside.
    with socket.socket() as mute:
        mute.bind(("127.0.0.1", 0))
        mute.listen(16)
        mute_port = mute.getsockname()[1]
        closed_port = free_ports(1, exclude={mute_port})[0]
        events: queue.SimpleQueue[object] = queue.SimpleQueue()
        prober = Prober(
            f"http://127.0.0.1:{closed_port}",
            "tiny",
            {"mute-0": mute_port, "closed-0": closed_port},
            events.put,
        )
        prober.start()
        try:
            seen: list[object] = []
            deadline = time.monotonic() + 10
            while not {Silent("mute-0", True), Registered("mute-0", False)} <= set(seen):
                assert time.monotonic() < deadline, seen
                seen.append(events.get(timeout=10))
        finally:
            prober.stop()
            prober.join(5)
    assert not any(isinstance(e, Silent) and e.name in ("closed-0", "frontend") for e in seen)


def test_a_kept_alive_connection_the_server_closed_is_not_taken_for_a_down_server():
    import threading

    from trtl.launcher.supervision.probe import _Client

    body = b'{"status": "ready"}'
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    def serve(listener: socket.socket) -> None:
        # Like a server that drops idle keep-alive connections: answer once, then close.
        for _ in range(2):
            conn, _addr = listener.accept()
            with conn:
                conn.recv(4096)
                conn.sendall(answer)

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        thread = threading.Thread(target=serve, args=(listener,), daemon=True)
        thread.start()
        client = _Client()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/health"
        try:
            assert client.get(url) == (200, {"status": "ready"})
            assert client.get(url) == (200, {"status": "ready"})
        finally:
            client.close()
        thread.join(5)


def test_answers_with_a_length_in_chunks_or_until_close_are_read_whole():
    import threading

    from trtl.launcher.supervision.probe import _Client

    answers = [
        b'HTTP/1.1 503 Service Unavailable\r\ncontent-length: 14\r\n\r\n{"a": "ready"}',
        b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{"b"\r\n5\r\n: [1]\r\n1\r\n}'
        b"\r\n0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\n\r\nnot json",
    ]

    def serve(listener: socket.socket) -> None:
        conn, _addr = listener.accept()
        for i, answer in enumerate(answers):
            conn.recv(4096)
            conn.sendall(answer)
            if i == len(answers) - 1:
                conn.close()

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        thread = threading.Thread(target=serve, args=(listener,), daemon=True)
        thread.start()
        client = _Client()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/health"
        try:
            got = [client.get(url) for _ in answers]
        finally:
            client.close()
        thread.join(5)
    # One connection served all three (kept alive), each answer whole.
    assert got == [(503, {"a": "ready"}), (200, {"b": [1]}), (200, None)]
