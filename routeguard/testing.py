"""Test helpers for apps behind routeguard (also registered as a pytest plugin)."""

from __future__ import annotations
