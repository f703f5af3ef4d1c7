"""Supervision: one process (component), the loop and its policy, probes and log output."""
