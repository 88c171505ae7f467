"""Acme's (tiny, deterministic) LLM features, standing in for a real application under test.

The functions the example config names have the signature the `python` provider calls: (messages, params) -> str or
dict. The support bot's system prompt is a file, prompts/support.md, that its prompt suite loads too.
"""
