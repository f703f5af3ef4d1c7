"""Check command lines against the real argument parsers of Dynamo 1.6.1.

Run with the project's venv Python as a subprocess (``tests/argv_check/__init__.py`` does it):
the stand-in ``tensorrt_llm`` package and the parsers' ``sys.exit`` calls must never touch the
pytest process. Reads from stdin a JSON list of checks::

    [{"program": "frontend" | "trtllm" | "mocker" | "vllm" | "sglang",
      "argv": ["--flag", "value", ...],        # what follows ``python -m dynamo.<program>``
      "env": {"DYN_...": "..."}}, ...]          # optional; set only while this check parses

and writes to stdout a JSON list with one result per check, in the same order::

    {"ok": bool,
     "error": "one line: what the parser said" ("" when ok),
     "warnings": ["deprecation warnings and logged warnings, e.g. for a deprecated alias"],
     "parsed": {"field": value, ...}}           # the resulting config when ok, else {}

How each program is checked:

- ``trtllm``: ``dynamo.trtllm.args.parse_args(argv)``, the worker's own entry point, which also
  runs ``Config.validate()``. TensorRT-LLM cannot be installed here, so ``stubs/tensorrt_llm``
  supplies the four defaults that the parser reads from it; nothing else on that path imports
  TensorRT-LLM or torch.
- ``mocker``: ``dynamo.mocker.args.parse_args(argv)``, the mocker's own entry point.
- ``vllm``: ``dynamo.vllm.args.parse_args(argv)``, the worker's own parser: Dynamo's flags,
  then vLLM's engine flags, then Dynamo's checks (e.g. a prefill worker needs
  ``--kv-transfer-config``). It needs vLLM, so run this module with the Python of a venv
  that has it (``check_argvs(..., python=...)``); ``parsed`` then also holds the engine
  arguments as ``engine.<field>`` (configs such as ``kv_transfer_config`` as mappings).
- ``sglang``: ``dynamo.sglang.args.parse_args(argv)`` (a coroutine), the worker's own parser:
  Dynamo's flags, then SGLang's server flags, then Dynamo's checks. It needs SGLang (and
  torch), so run this module with a Python that has them, such as the real-engine tier's
  ``sglang_python``; ``parsed`` holds Dynamo's fields and SGLang's as ``engine.<field>``.
- ``frontend``: ``dynamo.frontend.main.parse_args()`` takes no argv (it reads ``sys.argv``) and
  its module configures process-wide logging on import, so this rebuilds its first steps: a
  parser filled by ``FrontendArgGroup().add_arguments``, then ``FrontendConfig.from_cli_args``
  and ``.validate()``. It parses strictly (``parse_args``): main uses ``parse_known_args`` and
  then rejects leftovers itself with the default chat processor, but hands them to vLLM's or
  SGLang's parser with ``--dyn-chat-processor vllm|sglang``; trtl uses neither, so strict
  parsing here rejects exactly what a trtl-generated frontend would reject.

Deliberately stricter than Dynamo in one respect: abbreviated flags are refused. argparse
accepts any unique prefix of a long flag (``--router-mod kv`` parses as ``--router-mode kv``),
so a typo can pass today and break when Dynamo adds a flag with the same prefix; trtl must
spell every flag in full.

Each check runs with its own captured stdout, stderr, warnings and log records, and with
``os.environ`` restored afterwards (the trtllm parser itself writes to it), so one check cannot
affect the next. Parsers are imported once, before any check, in the caller's environment:
an ``env`` entry therefore affects only what a parser reads while parsing, as do the env
twins of all flags, not what a module reads at import (the mocker's default endpoint bakes in
``DYN_NAMESPACE`` then).

Exit status: 0 with results on stdout, also when checks fail; non-zero (message on stderr)
only when the request itself is malformed or a parser cannot be imported.
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import importlib
import io
import json
import logging
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

STUBS_DIR = Path(__file__).resolve().parent / "stubs"

#: An argparse error ends with "<prog>: error: <message>" on stderr.
_ARGPARSE_ERROR = re.compile(r": error: (?P<message>.+)$")

Parser = Callable[[list[str]], Any]


class RequestError(ValueError):
    """The JSON on stdin is not a list of well-formed checks."""


def _parse_trtllm(argv: list[str]) -> Any:
    from dynamo.trtllm.args import parse_args

    return parse_args(argv)


def _parse_mocker(argv: list[str]) -> Any:
    from dynamo.mocker.args import parse_args

    return parse_args(argv)


def _parse_vllm(argv: list[str]) -> Any:
    from types import SimpleNamespace

    from dynamo.vllm.args import parse_args

    config = parse_args(argv)
    engine = {f"engine.{k}": _shallow(v) for k, v in vars(config.engine_args).items()}
    return SimpleNamespace(
        **{k: v for k, v in vars(config).items() if k != "engine_args"}, **engine
    )


def _parse_sglang(argv: list[str]) -> Any:
    import asyncio
    from types import SimpleNamespace

    from dynamo.sglang.args import parse_args

    config = asyncio.run(parse_args(argv))
    server = config.server_args  # a msgspec Struct: fields in __struct_fields__, no __dict__
    engine = {f"engine.{k}": getattr(server, k) for k in type(server).__struct_fields__}
    return SimpleNamespace(**vars(config.dynamo_args), **engine)


def _shallow(value: Any) -> Any:
    """A config object's own fields as a mapping (one level), so tests can read them."""
    if hasattr(value, "__dataclass_fields__"):
        return {k: _jsonable(getattr(value, k)) for k in value.__dataclass_fields__}
    return value


def _parse_frontend(argv: list[str]) -> Any:
    from dynamo.frontend.frontend_args import FrontendArgGroup, FrontendConfig

    # Built per check, not once: add_arguments reads each flag's env twin as its default.
    parser = argparse.ArgumentParser(prog="python -m dynamo.frontend")
    FrontendArgGroup().add_arguments(parser)
    config = FrontendConfig.from_cli_args(parser.parse_args(argv))
    config.validate()
    return config


#: Parser per program, and the module each one imports (imported up front, see docstring).
PARSERS: dict[str, tuple[Parser, str]] = {
    "frontend": (_parse_frontend, "dynamo.frontend.frontend_args"),
    "trtllm": (_parse_trtllm, "dynamo.trtllm.args"),
    "mocker": (_parse_mocker, "dynamo.mocker.args"),
    "vllm": (_parse_vllm, "dynamo.vllm.args"),
    "sglang": (_parse_sglang, "dynamo.sglang.args"),
}


def read_request(text: str) -> list[tuple[str, list[str], dict[str, str]]]:
    """Validate the JSON request and return (program, argv, env) per check."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RequestError(f"stdin is not JSON: {exc}") from exc
    if not isinstance(data, list):
        raise RequestError("stdin must hold a JSON list of checks")
    checks = []
    for index, item in enumerate(data):
        where = f"check #{index}"
        if not isinstance(item, dict) or not {"program", "argv"} <= item.keys():
            raise RequestError(f"{where}: needs 'program' and 'argv': {item!r}")
        if unknown_keys := item.keys() - {"program", "argv", "env"}:
            raise RequestError(f"{where}: unknown keys {sorted(unknown_keys)}")
        program, argv, env = item["program"], item["argv"], item.get("env") or {}
        if program not in PARSERS:
            raise RequestError(f"{where}: program must be one of {sorted(PARSERS)}: {program!r}")
        if not isinstance(argv, list) or not all(isinstance(arg, str) for arg in argv):
            raise RequestError(f"{where}: argv must be a list of strings: {argv!r}")
        if not isinstance(env, dict) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in env.items()
        ):
            raise RequestError(f"{where}: env must map strings to strings: {env!r}")
        checks.append((program, argv, env))
    return checks


class _RecordCollector(logging.Handler):
    """Keeps the log records of the current check instead of printing them."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _take_over_logging() -> _RecordCollector:
    """Route all log records to a collector; the parsers report some errors only by logging."""
    collector = _RecordCollector()
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    root.addHandler(collector)
    root.setLevel(logging.WARNING)
    return collector


def _refuse_abbreviations() -> None:
    """Make every ArgumentParser created from now on refuse abbreviated long flags.

    Patched on the class because the parsers are built inside Dynamo's own functions.
    """
    original_init = argparse.ArgumentParser.__init__

    def init(self: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.allow_abbrev = False

    argparse.ArgumentParser.__init__ = init  # type: ignore[method-assign]


@contextlib.contextmanager
def _environment(overrides: Mapping[str, str]) -> Iterator[None]:
    """Apply ``overrides`` to os.environ, and restore it exactly afterwards."""
    saved = dict(os.environ)
    os.environ.update(overrides)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _unique(messages: Sequence[str]) -> list[str]:
    # trtllm reports a deprecated flag both as a log warning and as a DeprecationWarning.
    return list(dict.fromkeys(messages))


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def _summary(parsed: Any) -> dict[str, Any]:
    """The parsed config's fields, for callers that want to see what a flag turned into."""
    fields = vars(parsed) if hasattr(parsed, "__dict__") else {}
    return {key: _jsonable(value) for key, value in fields.items() if not key.startswith("_")}


def _exit_message(exc: SystemExit, stderr: str, errors: list[str]) -> str:
    """Say in one line why a parser called sys.exit."""
    if exc.code in (0, None):
        # --help or --version: the program would print and exit instead of starting.
        return "exited with status 0 before starting (e.g. --help or --version)"
    argparse_errors = [m["message"] for m in map(_ARGPARSE_ERROR.search, stderr.splitlines()) if m]
    if argparse_errors:
        return argparse_errors[-1].strip()
    if errors:  # The trtllm parser logs "Unrecognized argument: ..." and exits 1.
        return errors[-1]
    if isinstance(exc.code, str):
        return _one_line(exc.code)
    lines = stderr.strip().splitlines()
    return f"exited with status {exc.code}" + (f": {lines[-1].strip()}" if lines else "")


def run_check(
    parser: Parser, argv: list[str], env: Mapping[str, str], collector: _RecordCollector
) -> dict[str, Any]:
    """Parse one command line in isolation and describe the outcome."""
    collector.records.clear()
    stdout, stderr = io.StringIO(), io.StringIO()
    error = ""
    parsed: Any = None
    with (
        _environment(env),
        warnings.catch_warnings(record=True) as caught,
        contextlib.redirect_stdout(stdout),
        contextlib.redirect_stderr(stderr),
    ):
        warnings.simplefilter("always")
        try:
            parsed = parser(argv)
        except SystemExit as exc:
            logged_errors = [
                _one_line(r.getMessage()) for r in collector.records if r.levelno >= logging.ERROR
            ]
            error = _exit_message(exc, stderr.getvalue(), logged_errors)
        except Exception as exc:  # Config.validate and friends raise ValueError and others.
            error = f"{type(exc).__name__}: {_one_line(str(exc))}"
    warned = [_one_line(str(w.message)) for w in caught]
    logged = [_one_line(r.getMessage()) for r in collector.records if r.levelno < logging.ERROR]
    return {
        "ok": not error,
        "error": error,
        "warnings": _unique([*logged, *warned]),
        "parsed": {} if error else _summary(parsed),
    }


def main(stdin: TextIO, result_out: TextIO) -> int:
    try:
        checks = read_request(stdin.read())
    except RequestError as exc:
        print(f"validate.py: bad request: {exc}", file=sys.stderr)
        return 2

    # First on sys.path, so the stand-in wins even where a real TensorRT-LLM is installed: the
    # outcome then does not depend on the machine, and the real one would pull in torch and CUDA.
    sys.path.insert(0, str(STUBS_DIR))
    collector = _take_over_logging()
    _refuse_abbreviations()
    for program in dict.fromkeys(program for program, _, _ in checks):
        importlib.import_module(PARSERS[program][1])
    # In case an import configured logging after all.
    collector = _take_over_logging()

    results = [
        run_check(PARSERS[program][0], argv, env, collector) for program, argv, env in checks
    ]
    json.dump(results, result_out)
    result_out.write("\n")
    result_out.flush()
    return 0


if __name__ == "__main__":
    # Keep the JSON channel clean: anything else written to fd 1, by Python or by the Rust
    # extension, goes to stderr instead.
    json_out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.exit(main(sys.stdin, json_out))
