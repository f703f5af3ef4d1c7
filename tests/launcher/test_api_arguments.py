"""The library's arguments: a wrong one is one TrtlError sentence, before anything starts.

Before, ``port=0`` served on 8000, ``set="a=b"`` was read character by character, a
missing DGD path was read as YAML text, and the rest surfaced as TypeError, OverflowError
or AttributeError from deep inside; ``Deployment.stop`` of a name that never ran raised
ImportError.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import trtl

MODEL = str(Path(__file__).resolve().parents[2] / ".cache" / "tiny-model")


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"port": 0}, trtl.PlacementError, r"port=0 is not a TCP port"),
        ({"port": 70000}, trtl.PlacementError, r"port=70000 is not a TCP port"),
        ({"port": -1}, trtl.PlacementError, r"port=-1 is not a TCP port"),
        ({"port": "43011"}, trtl.PlacementError, r"port='43011' is not a TCP port"),
        ({"port": True}, trtl.PlacementError, r"port=True is not a TCP port"),
        ({"gpus": 0}, trtl.PlacementError, r"gpus=0 is not a str"),
        ({"model": 5}, trtl.ProfileError, r"model=5 is not a str or a path"),
        ({"set": "workers.worker.replicas=2"}, trtl.ProfileError, r"is not a list of overrides"),
        ({"set": [1]}, trtl.ProfileError, r"set: 1 is not a KEY=VALUE string"),
        ({"timeout": float("nan")}, trtl.ProfileError, r"timeout=nan is not a number of seconds"),
        ({"timeout": -5}, trtl.ProfileError, r"timeout=-5 is not a number of seconds"),
        ({"timeout": 0.5}, trtl.ProfileError, r"timeout=0.5 is not a number of seconds from 1"),
        ({"grace": "abc"}, trtl.ProfileError, r"grace='abc' is not a number of seconds"),
        ({"grace": float("inf")}, trtl.ProfileError, r"grace=inf is not a number of seconds"),
        ({"name": 3}, trtl.ProfileError, r"name=3 is not a str"),
    ],
)
def test_up_refuses_a_wrong_argument_with_one_sentence(arguments, error, message):
    with pytest.raises(error, match=message):
        trtl.up("agg", **{"engine": "mocker", "model": MODEL, **arguments})


@pytest.mark.parametrize("profile", [123, None, ["agg"]])
def test_a_profile_that_is_no_profile_is_a_profile_error(profile):
    for call in (trtl.plan, trtl.load, trtl.export_k8s, trtl.up):
        with pytest.raises(trtl.ProfileError, match="is not a profile"):
            call(profile)


def test_plan_checks_the_port_and_takes_a_path_as_model():
    with pytest.raises(trtl.PlacementError, match="port=70000"):
        trtl.plan("agg", engine="mocker", model=MODEL, port=70000)
    plan = trtl.plan("agg", engine="mocker", model=Path(MODEL), port=44123)
    assert plan.frontend_url == "http://127.0.0.1:44123"
    assert plan.profile.model == MODEL


@pytest.mark.parametrize("source", ["no-such-dgd.yaml", "~/missing.yml", "gone.json", "/no/dir"])
def test_import_dgd_of_a_missing_path_says_no_such_file(source: str, tmp_path: Path):
    # Before: the path was read as YAML text, and the error named a temp file.
    given = str(tmp_path / source) if not source.startswith(("~", "/")) else source
    with pytest.raises(trtl.ProfileError, match=r": no such file\.$") as raised:
        trtl.import_dgd(given)
    assert "trtl-dgd-" not in str(raised.value)
    with pytest.raises(trtl.ProfileError, match=r": no such file\.$"):
        trtl.import_dgd(Path(given))


def test_import_dgd_still_reads_yaml_text():
    profile = trtl.import_dgd(trtl.export_k8s("agg", image="nvcr.io/example:1"))
    assert set(profile.workers) == {"worker"}


def test_stopping_a_deployment_that_never_ran_says_so():
    # Before: ImportError (DeploymentLock from the wrong module), on every failed start.
    assert trtl.Deployment("never-ran").stop() == ["'never-ran' is not running"]


def test_load_reads_a_dgd_from_a_pipe_as_the_cli_does(tmp_path: Path):
    # Before: trtl.load("/dev/stdin") took a piped DGD for a profile and refused it.
    script = "import trtl; p = trtl.load('/dev/stdin', engine='mocker'); print(p.name, *p.workers)"
    dgd = trtl.export_k8s("agg", image="nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime:1.6.1")
    env = {**os.environ, "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "state")}
    read = subprocess.run(
        [sys.executable, "-c", script], input=dgd, env=env, capture_output=True, text=True
    )
    assert read.returncode == 0, read.stderr
    assert read.stdout.split() == ["agg", "worker"]
