"""Checks before anything starts: preflight, the worker Python, model fetch and `trtl doctor`."""
