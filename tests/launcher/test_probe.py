"""Reading readiness from what Dynamo's frontend and workers answer (bodies as measured)."""

from __future__ import annotations

from launcher.probe import model_listed, worker_registered


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
