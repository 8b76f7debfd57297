"""Placeholder: filled in by the ops work (see tkeras/ops/operation.py)."""

__all__ = []
