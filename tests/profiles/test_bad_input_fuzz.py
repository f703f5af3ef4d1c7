"""Random and mutated profiles and --set values: always a ProfileError, never a traceback."""

from __future__ import annotations

import string
from pathlib import Path

import yaml
from hypothesis import given
from hypothesis import strategies as st
from trtl.profiles.engines import component_specs
from trtl.profiles.errors import ProfileError
from trtl.profiles.loader import BUILTIN_DIR, load_profile
from trtl.profiles.yaml_source import load_yaml_text

from tests.strategies import fuzz_settings

SETTINGS = fuzz_settings(max_examples=150)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=False),
    st.text(max_size=12),
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
KEYS = [
    "name", "engine", "model", "served_model_name", "frontend", "workers", "env", "mocker",
    "k8s", "extends", "description", "replicas", "mode", "gpus", "engine_config",
    "http_port", "router_mode", "tensor_parallel_size", "kv_transfer_backend", "extra_args",
]  # fmt: skip
paths = st.lists(
    st.one_of(st.sampled_from(KEYS), st.sampled_from(["worker", "prefill", "decode"])),
    min_size=1, max_size=4,
).map(".".join)  # fmt: skip


def only_profile_errors(call) -> None:
    try:
        call()
    except ProfileError as exc:
        assert exc.message and "Traceback" not in exc.message
        assert exc.exit_code == 2


@SETTINGS
@given(assignment=st.one_of(st.text(max_size=30), st.tuples(paths, values).map(
    lambda pv: f"{pv[0]}={yaml.safe_dump(pv[1], default_flow_style=True).strip()}"
)))  # fmt: skip
def test_random_set_values(assignment):
    def plan_specs() -> None:
        for engine in ("trtllm", "mocker"):
            profile = load_profile("disagg_router", overrides=[assignment], engine=engine)
            component_specs(profile, "/run/engine")

    only_profile_errors(plan_specs)


@SETTINGS
@given(data=st.dictionaries(st.sampled_from(KEYS), values, max_size=6))
def test_random_profile_documents(data, tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    only_profile_errors(lambda: load_profile(str(path)))


@SETTINGS
@given(
    name=st.sampled_from(sorted(p.name for p in BUILTIN_DIR.glob("*.yaml"))),
    cut=st.integers(0, 2000),
    junk=st.text(alphabet=string.printable, max_size=6),
)
def test_mutated_builtin_text(name, cut, junk, tmp_path_factory):
    text = (BUILTIN_DIR / name).read_text()
    cut %= len(text)
    mutated = text[:cut] + junk + text[cut + len(junk) :]
    path: Path = tmp_path_factory.mktemp("mut") / name
    path.write_text(mutated)
    only_profile_errors(lambda: load_profile(str(path)))


@SETTINGS
@given(text=st.text(max_size=80))
def test_random_yaml_text(text):
    only_profile_errors(lambda: load_yaml_text(text, "x.yaml"))
