"""The Python modules a vLLM worker's KV connector needs, for the preflight check.

An imported graph may move KV blocks with a connector other than trtl's NIXL one:
LMCache (``LMCacheConnectorV1``), Dynamo's KV block manager (``DynamoConnector`` with a
``kv_connector_module_path``), or a ``MultiConnector`` of several. Each needs its package
in the worker's Python; ``needed_modules`` names them so preflight can say which one is
missing instead of letting the worker fail at start.
"""

from __future__ import annotations

import json
from typing import Any

# Connector class → top-level module it imports (vLLM's own connectors need nothing more).
KNOWN = {"NixlConnector": "nixl", "LMCacheConnectorV1": "lmcache", "DynamoConnector": "kvbm"}
FLAG = "--kv-transfer-config"


def needed_modules(argv: list[str]) -> dict[str, str]:
    """{module: connector} the worker's ``--kv-transfer-config`` needs importable."""
    raw = None
    for i, arg in enumerate(argv):
        if arg == FLAG and i + 1 < len(argv):
            raw = argv[i + 1]
        elif arg.startswith(FLAG + "="):
            raw = arg.split("=", 1)[1]
    try:
        config = json.loads(raw) if raw else None
    except ValueError:
        return {}
    return _of(config) if isinstance(config, dict) else {}


def _of(config: dict[str, Any]) -> dict[str, str]:
    connector = str(config.get("kv_connector", ""))
    found: dict[str, str] = {}
    path = config.get("kv_connector_module_path")
    if isinstance(path, str) and path:
        found[path.split(".", 1)[0]] = connector
    elif connector in KNOWN:
        found[KNOWN[connector]] = connector
    extra = config.get("kv_connector_extra_config")
    for sub in (extra or {}).get("connectors", []) if isinstance(extra, dict) else []:
        if isinstance(sub, dict):
            found.update(_of(sub))
    return found
