"""No secret value in an export, none kept by an import.

A secret is an environment entry with a literal value whose name says secret (``HF_TOKEN``,
``*_API_KEY``, ...), or any string shaped like a Hugging Face token (``hf_`` and 30+
letters or digits), whatever variable, argument or pass-through field holds it, and the
value of a secret flag such as vLLM's ``--hf-token`` (``profiles.secret_args``). Exports
are scanned whole, after rendering, so pass-through mappings (``initContainers``, say) and
trtl's own annotation are covered too; imports drop such literals with a note. Messages
and notes name where the secret was, never the secret.
"""

from __future__ import annotations

import shlex
from typing import Any

from trtl.profiles.engines import settings_args
from trtl.profiles.errors import ExportError
from trtl.profiles.schema import Profile
from trtl.profiles.secret_args import HF_TOKEN_PATTERN, secret_flag, secret_flag_value, secret_name

HF_TOKEN = HF_TOKEN_PATTERN
ENV_KEYS = ("env", "envs")
ARGV_KEYS = ("args", "command")
HINT = (
    "Put it in a Kubernetes Secret and name it in k8s.hf_token_secret "
    "(or k8s.env_refs with valueFrom.secretKeyRef)."
)


def is_secret(name: Any, value: Any) -> bool:
    """Whether an environment entry ``name=value`` holds a secret value."""
    if value is None or value == "":
        return False
    return secret_name(name) or bool(HF_TOKEN.search(str(value)))


def refuse_profile_secrets(profile: Profile) -> None:
    """Raise ExportError for a secret in the profile's env or extra_args, naming the field."""
    places: list[tuple[str, dict[str, str]]] = [("env", profile.env)]
    places.append(("frontend.env", profile.frontend.env))
    places += [(f"workers.{n}.env", r.env) for n, r in profile.workers.items()]
    for where, env in places:
        for key, value in env.items():
            if is_secret(key, value):
                raise ExportError(
                    f"{where}.{key} holds a secret value, and an export never contains one.",
                    hint=HINT,
                )
    args = [("frontend.extra_args", profile.frontend.extra_args)]
    args += [(f"workers.{n}.extra_args", r.extra_args) for n, r in profile.workers.items()]
    args += settings_args(profile)
    for where, values in args:
        if any(HF_TOKEN.search(v) for v in values):
            raise ExportError(
                f"{where} holds a Hugging Face token, and an export never contains one.",
                hint="Let the worker read HF_TOKEN from a Secret (k8s.hf_token_secret).",
            )
        flag = secret_flag(values)
        if flag:
            raise ExportError(
                f"{where} gives {flag} a literal value, and an export never contains a secret.",
                hint=f"Remove {flag} there; the worker reads HF_TOKEN from a Secret "
                "(k8s.hf_token_secret, or k8s.env_refs with valueFrom.secretKeyRef).",
            )


def refuse_document_secrets(docs: list[dict[str, Any]]) -> None:
    """Raise ExportError if any rendered document holds a secret value anywhere."""
    for doc in docs:
        found = _find(doc, "")
        if found:
            kind = doc.get("kind", "document")
            raise ExportError(
                f"The export would write a secret value at {kind} {found}, and an export "
                "never contains one.",
                hint=HINT,
            )


def _find(node: Any, path: str) -> str | None:
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}" if path else str(key)
            if key in ENV_KEYS and isinstance(value, list):
                for i, entry in enumerate(value):
                    if isinstance(entry, dict) and is_secret(entry.get("name"), entry.get("value")):
                        return f"{here}[{i}] ({entry.get('name')})"
            found = _find(value, here)
            if found:
                return found
    elif isinstance(node, list):
        for i, item in enumerate(node):
            found = _find(item, f"{path}[{i}]")
            if found:
                return found
    elif isinstance(node, str) and HF_TOKEN.search(node):
        return path
    return None


def scrub(node: Any, path: str, notes: list[str]) -> None:
    """Drop secret env values and token arguments from a DGD in place, noting each."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            scrub(item, f"{path}[{i}]", notes)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        here = f"{path}.{key}" if path else str(key)
        if key in ENV_KEYS and isinstance(value, list):
            node[key] = [e for e in value if not _secret_entry(e, here, notes)]
        elif key in ARGV_KEYS and isinstance(value, list):
            node[key] = [_scrub_line(a, here, notes) for a in _drop_tokens(value, here, notes)]
        else:
            scrub(value, here, notes)


def scrub_configmap(doc: dict[str, Any], notes: list[str]) -> None:
    """Drop the keys of a user's ConfigMap whose value is a secret, noting each."""
    data = doc.get("data")
    if not isinstance(data, dict):
        return
    name = (doc.get("metadata") or {}).get("name")
    for key in [k for k, v in data.items() if is_secret(k, v)]:
        del data[key]
        notes.append(f"ConfigMap {name}: left out key {key}: its value is a secret.")


def _secret_entry(entry: Any, where: str, notes: list[str]) -> bool:
    if not isinstance(entry, dict) or not is_secret(entry.get("name"), entry.get("value")):
        return False
    name = entry.get("name")
    if "valueFrom" in entry:
        # Kubernetes forbids value beside valueFrom; the reference is what the pod used.
        del entry["value"]
        notes.append(f"{where}: left out the literal value of {name}; kept its valueFrom.")
        return False
    notes.append(f"{where}: left out {name}: its value is a secret; use a Secret reference.")
    return True


def _drop_tokens(argv: list[Any], where: str, notes: list[str]) -> list[Any]:
    kept: list[Any] = []
    texts = [arg if isinstance(arg, str) else "" for arg in argv]
    for i, arg in enumerate(argv):
        token = isinstance(arg, str) and HF_TOKEN.search(arg) and " " not in arg.strip()
        if not token and not secret_flag_value(texts, i):
            kept.append(arg)
            continue
        flag = arg.split("=", 1)[0] if arg.startswith("-") else None
        if flag is None and kept and str(kept[-1]).startswith("-") and "=" not in str(kept[-1]):
            flag = kept.pop()
        notes.append(f"{where}: left out {flag or 'an argument'}: its value is a secret.")
    return kept


def _scrub_line(arg: Any, where: str, notes: list[str]) -> Any:
    """A shell line (``sh -c "python3 -m ..."``) without its token arguments."""
    if not isinstance(arg, str) or not HF_TOKEN.search(arg):
        return arg
    if "\n" in arg.strip():  # a script: drop the lines holding a token, keep its shape
        kept = [line for line in arg.split("\n") if not HF_TOKEN.search(line)]
        notes.append(f"{where}: left out a script line: it holds a secret.")
        return "\n".join(kept)
    try:
        words = shlex.split(arg)
    except ValueError:
        words = arg.split()
    return shlex.join(_drop_tokens(words, where, notes))
