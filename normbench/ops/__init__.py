"""Normalization ops, one package each (batch norm first)."""
