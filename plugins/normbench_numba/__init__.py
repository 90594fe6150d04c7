"""Numba backend (in progress)."""
