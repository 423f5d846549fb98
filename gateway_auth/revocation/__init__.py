"""Revocation in real time: the in-memory mirror, the operations, and keeping mirrors in step."""
