"""The kubelet's $(VAR) rule and the shell reader on small cases, each checked against the
real thing where one runs here (bash for scripts)."""

from __future__ import annotations

import subprocess

import pytest
from trtl.k8s_export.kube_vars import kubelet_expand, shell_expand
from trtl.k8s_export.shell_script import ScriptError, read_script

ENV = {"A": "1", "MODEL": "Qwen/Qwen3-0.6B"}


@pytest.mark.parametrize(
    ("text", "expanded"),
    [
        ("$(MODEL)", "Qwen/Qwen3-0.6B"),
        ("$$(MODEL)", "$(MODEL)"),  # the escape
        ("$(NOPE)", "$(NOPE)"),  # undefined: as written
        ("x-$(A)-$(A)", "x-1-1"),
        ("$(A", "$(A"),  # unterminated: as written
        ("$A $$ $", "$A $ $"),
    ],
)
def test_kubelet_expansion(text, expanded):
    assert kubelet_expand(text, ENV) == expanded


@pytest.mark.parametrize("word", ["$A", "${A}", "${NOPE:-d}", "${NOPE-d}", "x${A}y", "${EMPTY:-d}"])
def test_shell_expansion_matches_bash(word):
    env = {**ENV, "EMPTY": ""}
    bash = subprocess.run(["bash", "-c", f'printf %s "{word}"'], env=env, capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    assert shell_expand(word, env) == bash


@pytest.mark.parametrize(
    ("script", "line", "expected"),
    [
        ("exec python3 -m dynamo.trtllm --model m\necho done", 2, "nothing after the launch"),
        ("python3 -m dynamo.trtllm --model $(hostname)", 1, "no command substitution"),
        ("for i in 1; do :; done\npython3 -m dynamo.trtllm", 1, "straight-line statements"),
        ("f() { :; }\npython3 -m dynamo.trtllm", 1, "straight-line statements"),
        ("python3 -m dynamo.trtllm --model '$A", 1, "the line to be complete"),
        ("echo hi", 0, "a `python3 -m dynamo.<engine> …` line"),
    ],
)
def test_scripts_trtl_cannot_read_name_the_line(script, line, expected):
    with pytest.raises(ScriptError) as info:
        read_script(script, ENV)
    assert info.value.line == line and info.value.expected.startswith(expected)


def test_single_quotes_keep_a_dollar_and_continuations_join_lines():
    read = read_script("exec python3 -m dynamo.trtllm \\\n  --a '$A' \\\n  --b \"$A\"\n", ENV)
    assert read.argv == ["python3", "-m", "dynamo.trtllm", "--a", "$A", "--b", "1"]
    assert read.written == {"1": "$A"}


@pytest.mark.parametrize(
    "script",
    [
        'args=(--a "$A" --b x); exec python3 -m dynamo.trtllm "${args[@]}"',
        'args=(--a "$A" --b x)&& exec python3 -m dynamo.trtllm "${args[@]}"',
        'set -e;args=(--a "$A");args+=(--b x);exec python3 -m dynamo.trtllm "${args[@]}"',
    ],
)
def test_an_array_closed_right_before_a_separator_reads_as_bash_runs_it(script):
    # Before: `);` lexed as one word, and the complete line was refused as "left open".
    read = read_script(script, ENV)
    assert read.argv == ["python3", "-m", "dynamo.trtllm", "--a", "1", "--b", "x"]


@pytest.mark.parametrize(
    "script",
    [
        'set -- --model m\nexec python3 -m dynamo.trtllm "$@"',
        "exec python3 -m dynamo.trtllm --model m --seed $1",
        'args=(--model m "${@}")\nexec python3 -m dynamo.trtllm "${args[@]}"',
    ],
)
def test_the_scripts_own_arguments_are_refused_by_name(script):
    # Before: "$@" went into the command as the two characters `$@`, and the user read
    # "names no model (--model or --model-path)" about a script that names one.
    with pytest.raises(ScriptError) as info:
        read_script(script, ENV)
    assert info.value.expected.startswith("no positional or special parameters"), info.value
    assert read_script("exec python3 -m dynamo.trtllm --a '$1'", ENV).argv[-1] == "$1"


def test_a_flag_joined_to_its_variable_by_equals_keeps_the_variable():
    read = read_script('args=(--a="$A" --b=x)\nexec python3 -m dynamo.trtllm "${args[@]}"', ENV)
    assert read.argv[3:] == ["--a=1", "--b=x"]
    assert read.written == {"--a=1": "--a=$A", "--a 1": "$A"}
