"""Acme's (tiny, deterministic) LLM features, standing in for a real application under test.

Each function has the signature the `python` provider calls: (messages, params) -> str or dict.
"""
