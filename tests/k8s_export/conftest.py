"""Fixtures for the Kubernetes export tests: the operator's CRD as JSON Schema."""

from __future__ import annotations

import jsonschema
import pytest
from k8s_helpers import CRD, VERSIONS
from trtl.k8s_export.validate import crd_schema


@pytest.fixture(scope="session")
def crd_validators() -> dict[str, jsonschema.Draft7Validator]:
    """One validator per API version, from the operator's CRD (strict about unknown fields)."""
    return {v: jsonschema.Draft7Validator(crd_schema(CRD, v)) for v in VERSIONS}
