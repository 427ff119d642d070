"""Test support: a strict Kubernetes API stand-in server and the handle/fixtures around it."""
