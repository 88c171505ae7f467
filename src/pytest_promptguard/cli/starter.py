"""The files `init` writes: promptguard.yaml, a starter suite, a stand-in for the application, a CI workflow.

Each is text with comments a newcomer reads once; the models in it are the providers `init` found. A key is only
ever named (`api_key_env`), never written: promptguard reads it from the environment when it calls.
"""

from __future__ import annotations

from dataclasses import dataclass

SUITES = "prompts"  # the folder of the starter suite, the stand-in application and their goldens
OFFLINE = "offline"  # the model that answers without a key or a server: the stand-in application


@dataclass(frozen=True)
class Provider:
    """A provider `init` found, as a model of promptguard.yaml."""

    name: str  # the model's name in promptguard.yaml
    provider: str
    model: str
    why: str  # what showed it is there: "OPENAI_API_KEY is set"
    api_key_env: str | None = None
    base_url: str | None = None  # only when not the provider's default

    def yaml(self) -> str:
        lines = [f"  # {self.why}", f"  {self.name}:", f"    provider: {self.provider}", f"    model: {self.model}"]
        if self.base_url:
            lines.append(f"    base_url: {self.base_url}")
        if self.api_key_env:
            lines.append(f"    api_key_env: {self.api_key_env}  # read when a call is made, never written anywhere")
        lines.append("    params: {temperature: 0, max_tokens: 200}")
        return "\n".join(lines) + "\n"


def config_text(found: list[Provider]) -> str:
    """promptguard.yaml: a model per provider found, and the offline stand-in; the found ones are the defaults."""
    defaults = ", ".join(p.name for p in found) or OFFLINE
    return (
        "# The models the prompt suites run against (written by `python -m pytest_promptguard init`).\n"
        "# A suite runs against default_models unless it names its own (`models: [...]`).\n"
        f"pythonpath: [{SUITES}]  # where the offline stand-in lives\n"
        f"default_models: [{defaults}]\n"
        "models:\n"
        + "".join(p.yaml() for p in found)
        + f"  # A Python function standing in for your application ({SUITES}/starter_app.py): no key, no server.\n"
        f"  {OFFLINE}:\n"
        "    provider: python\n"
        "    callable: starter_app:answer\n"
        "    params: {temperature: 0}  # it answers the same every time: one recorded sample is enough\n"
    )


SUITE = """\
# A starter suite: every case is a prompt sent to each model of default_models (../promptguard.yaml), and checks
# on the answer. `golden: true` compares today's answer with the one recorded by
#   pytest --promptguard --promptguard-update prompts
# (reviewable files in __golden__/ beside this one: commit them).
name: starter
description: Short factual answers, one sentence each.
prompt:
  - {role: system, content: Answer in one short sentence.}
  - {role: user, content: "{{question}}"}
checks:
  - golden: true
  - length: {max_chars: 300}
  - latency: {max_ms: 30000}
cases:
  - id: capital
    vars: {question: What is the capital of France?}
    checks:
      - icontains: paris
  - id: arithmetic
    vars: {question: What is 12 times 12?}
    checks:
      - contains: "144"
  - id: greeting
    vars: {question: Say hello to Ada.}
    checks:
      - icontains: ada
      - not_contains: [As an AI, language model]
"""

APP = '''\
"""A stand-in for your application: the `offline` model of promptguard.yaml calls `answer(messages, params)`.

Point `callable` at the function of your own code that asks your model (it gets the suite's messages and params,
and returns the text, or a dict with `text`, `usage` and `model`), and the suites test what your application
really does. This one answers from a table, so the first run works offline; it reports the usage and the model
an application on an LLM API would pass on, so the reports show a cost.
"""

ANSWERS = {
    "capital of France": "The capital of France is Paris.",
    "12 times 12": "12 times 12 is 144.",
    "hello to Ada": "Hello, Ada!",
}


def answer(messages: list[dict], params: dict) -> dict:
    question = messages[-1]["content"]
    text = next((reply for topic, reply in ANSWERS.items() if topic in question), "I do not know.")
    words = sum(len(str(m["content"]).split()) for m in messages)
    return {"text": text, "model": "gpt-4o-mini", "usage": {"input_tokens": words, "output_tokens": len(text.split())}}
'''


def workflow_text(found: list[Provider]) -> str:
    """.github/workflows/promptguard.yml: pull requests replay the goldens (no key, no cost); with a hosted model,
    nightly runs call it live and exit 75 when it could not be measured (an outage to retry, not a drift)."""
    hosted = [p for p in found if p.api_key_env]
    head = (
        "# Prompt suites in CI (written by `python -m pytest_promptguard init`).\n"
        "# Pull requests replay the recorded goldens: no API key, no model call, no cost.\n"
    )
    if hosted:
        head += (
            "# Nightly, the hosted models are called live; exit status 75 means they could not be measured (an\n"
            "# outage: tried again), any other failure is a real one (a failed check, a drift).\n"
        )
    else:
        head += "# With a hosted model in promptguard.yaml, add a nightly live run (see pytest-promptguard's ci.md).\n"
    nightly = '  schedule:\n    - cron: "17 3 * * *"\n  workflow_dispatch:\n'
    trigger = "  pull_request:\n" + (nightly if hosted else "")
    steps = (
        "      - name: Replay the goldens\n"
        + ("        if: github.event_name == 'pull_request'\n" if hosted else "")
        + f"        run: pytest --promptguard --promptguard-replay {SUITES} --promptguard-html promptguard.html\n"
    )
    if hosted:
        local = [p.name for p in found if not p.api_key_env]  # a local server (Ollama) is not on the CI runner
        select = f' -k "{" and ".join(f"not {name}" for name in local)}"' if local else ""
        steps += (
            "      - name: Call the models (an outage, exit 75, is tried again 20 minutes later)\n"
            "        if: github.event_name != 'pull_request'\n"
            "        uses: nick-fields/retry@v3\n"
            "        env:\n"
            + "".join(f"          {key}: ${{{{ secrets.{key} }}}}\n" for key in sorted({p.api_key_env for p in hosted}))
            + "        with:\n"
            "          max_attempts: 3\n"
            "          retry_on_exit_code: 75  # any other failure (a failed check, a drift) ends the step at once\n"
            "          retry_wait_seconds: 1200\n"
            "          timeout_minutes: 60\n"
            "          command: >\n"
            f"            pytest --promptguard {SUITES}{select} --promptguard-outage-exit-code 75\n"
            "            --promptguard-html promptguard.html\n"
        )
    return (
        head + "name: promptguard\non:\n" + trigger + "jobs:\n  prompts:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n"
        "      - uses: actions/setup-python@v5\n"
        "        with:\n"
        '          python-version: "3.12"\n'
        "      - run: pip install pytest-promptguard\n" + steps + "      - uses: actions/upload-artifact@v4\n"
        "        if: always()\n"
        "        with:\n"
        "          name: promptguard-report\n"
        "          path: promptguard.html\n"
    )
