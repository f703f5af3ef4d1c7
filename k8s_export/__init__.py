"""Profile → DynamoGraphDeployment export and import (arrives with the Kubernetes issue)."""

__all__: list[str] = []
