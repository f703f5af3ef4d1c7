"""The plan's command lines really serve: real frontend and mocker processes on loopback.

This starts exactly the argv and env of ``trtl plan`` (no supervisor yet) for the
disaggregated KV-router graph on the tiny offline model, waits until ``/v1/models`` lists
the model, sends a real chat completion, and stops every process group.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import psutil
import pytest
from trtl.launcher.planning.plan import PlanOptions, build_plan
from trtl.launcher.planning.ports import free_ports
from trtl.profiles.loader import load_profile

from tests.e2e.procs import pgid, start, stop, wait_listed

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["agg_router", "disagg_router"])
def test_planned_graph_serves_a_chat(name, tiny_model, tmp_path):
    port = free_ports(1, exclude=set())[0]
    profile = load_profile(
        name, engine="mocker", model=str(tiny_model), overrides=["mocker.speedup_ratio=1000"]
    )
    plan = build_plan(profile, PlanOptions(deployment=f"e2e-{name}", http_port=port))
    procs = start(plan, tmp_path)
    try:
        url = plan.frontend_url
        wait_listed(plan, procs)
        reply = httpx.post(
            f"{url}/v1/chat/completions",
            json={
                "model": profile.served_name,
                "messages": [{"role": "user", "content": "Hello"}],
                "max_tokens": 8,
            },
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["choices"][0]["message"]["content"]
        for p in procs:
            # Each process leads its own group and listens only where the plan says.
            assert os.getpgid(p.pid) == p.pid
        tcp = [
            c.laddr.port
            for p in procs
            for c in psutil.Process(p.pid).net_connections("tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr.ip != "127.0.0.1"
        ]
        planned = {port for proc in plan.processes for port in proc.ports.values()}
        assert not planned & set(tcp), "planned ports must listen on loopback only"
    finally:
        stop(procs)
    groups = {p.pid for p in procs}
    left = [q.pid for q in psutil.process_iter() if pgid(q.pid) in groups]
    assert not left, f"processes left behind: {left}"
