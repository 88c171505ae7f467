"""Acme's (tiny, deterministic) LLM features, standing in for a real application under test.

The functions the example config names have the signature the `python` provider calls: (messages, params) -> str or
dict. The support bot's system prompt is a file, prompts/support.md, that its prompt suite loads too.

Each answer also reports what an application built on an LLM API passes on: the model that served it (a real model
id, as the API would name it) and its token usage (words, here), so the example runs show latency, tokens and a cost
priced from the shipped price snapshot.
"""


def usage(messages: list[dict], text: str) -> dict:
    """Token usage as the API would report it; words stand in for tokens."""
    return {"input_tokens": sum(len(str(m["content"]).split()) for m in messages), "output_tokens": len(text.split())}
