"""The support bot: answers customer questions in Acme's voice."""

from __future__ import annotations

from pathlib import Path

# The bot's system prompt lives in a file, not in code: the prompt suite (examples/prompts/support.prompt.yaml)
# loads the very same file with `content: {file: ../app/acme/prompts/support.md}`, so it tests what ships.
SYSTEM_PROMPT = Path(__file__).parent / "prompts" / "support.md"

ANSWERS = [
    (("return", "refund"), "You can return any item within 30 days of delivery for a full refund."),
    (("ship", "deliver"), "Standard shipping takes 3-5 business days; express takes 1-2."),
    (("password", "log in", "login"), "Use 'Forgot password' on the sign-in page; the link is valid for 1 hour."),
]
FALLBACK = "I'm not sure about that one. A colleague from {company} support will get back to you by email."


def system_prompt(company: str = "Acme") -> str:
    """The system prompt the bot sends, `{{company}}` filled in."""
    return SYSTEM_PROMPT.read_text(encoding="utf-8").replace("{{company}}", company)


def reply(question: str, company: str = "Acme") -> str:
    """What a customer sees: their question asked with the bot's own system prompt."""
    messages = [{"role": "system", "content": system_prompt(company)}, {"role": "user", "content": question}]
    return answer(messages, {"max_tokens": 120})["text"]


def answer(messages: list[dict], params: dict) -> dict:
    question = messages[-1]["content"].lower()
    system = next((m["content"] for m in messages if m["role"] == "system"), "")
    company = system.split("for ", 1)[1].split(".", 1)[0] if "for " in system else "Acme"
    text = next(
        (reply for keys, reply in ANSWERS if any(k in question for k in keys)), FALLBACK.format(company=company)
    )
    limit = params.get("max_tokens")
    if limit:
        text = " ".join(text.split()[: limit * 3 // 4]) if len(text.split()) > limit * 3 // 4 else text
    words = sum(len(m["content"].split()) for m in messages)
    return {
        "text": text,
        "model": "gpt-4o-mini-2024-07-18",
        "usage": {"input_tokens": words, "output_tokens": len(text.split())},
    }
