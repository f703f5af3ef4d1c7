"""Deployments on disk and at rest: run dirs, state, locks, leftovers, stop, status, chat."""
