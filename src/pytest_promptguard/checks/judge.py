"""The `judge` check: a configured chat model grades the output against a rubric, 0 to 1, with a one-line reason.

The grader is asked with a prompt template (`DEFAULT_PROMPT`, or `judge: {prompt: ...}` in promptguard.yaml) in
which `{rubric}`, `{output}` and `{expected}` are replaced, and must answer JSON `{"score": 0.8, "reason": "..."}`
(code fences are tolerated). Its calls go through the scheduler (see modelchecks.py), are costed apart from
the case, and its score for the golden output is recorded in the golden file, so `--promptguard-replay` has a
verdict without calling anyone.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from ..core.errors import PromptguardError
from ..core.results import text_hash
from .models import CheckCallError
from .registry import BuildContext, Check, CheckInput, CheckSpecError, quote, register, result

DEFAULT_MIN = 0.7
DEFAULT_PROMPT = """You are grading an AI assistant's answer against a rubric.

Rubric:
{rubric}

Reference answer (may be empty; the answer need not match it word for word):
{expected}

The answer to grade:
<answer>
{output}
</answer>

Judge only whether the answer meets the rubric. Reply with one JSON object and nothing else:
{"score": <a number from 0 (fails the rubric) to 1 (fully meets it)>, "reason": "<one line>"}"""

_FENCE = re.compile(r"^\s*```[a-zA-Z0-9_-]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)


def render(template: str, rubric: str, output: str, expected: str | None) -> str:
    """The grader's prompt: the three placeholders replaced, any other brace left as it is."""
    return template.replace("{rubric}", rubric).replace("{expected}", expected or "(none)").replace("{output}", output)


def judgement_key(grader: str, rubric: str, expected: str | None, template: str) -> str:
    """What identifies a judgement besides the output graded: the golden file records scores under it."""
    body = json.dumps([grader, rubric, expected, template], ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()[:12]


def parse_grade(text: str) -> tuple[float, str] | None:
    """(score, reason) from the grader's reply, or None when it is not such JSON."""
    fenced = _FENCE.match(text)
    body = (fenced.group(1) if fenced else text).strip()
    try:
        data = json.loads(body)
    except ValueError:
        start, end = body.find("{"), body.rfind("}")
        if start < 0 or end <= start:
            return None
        try:
            data = json.loads(body[start : end + 1])
        except ValueError:
            return None
    if not isinstance(data, dict):
        return None
    score, reason = data.get("score"), data.get("reason", "")
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 1:
        return None
    return float(score), " ".join(str(reason).split())


@register(
    "judge",
    {
        "type": "object",
        "description": "judge: {rubric: what a good answer does, model: grader model (default: judge.model in "
        "promptguard.yaml), min: 0-1 (default 0.7), expected: a reference answer}",
        "required": ["rubric"],
        "additionalProperties": False,
        "properties": {
            "rubric": {"type": "string", "minLength": 1},
            "model": {"type": "string"},
            "min": {"type": "number", "minimum": 0, "maximum": 1},
            "expected": {"type": "string"},
        },
    },
)
def build_judge(argument: dict[str, Any], context: BuildContext) -> Check:
    models = context.models
    if models is None:
        raise CheckSpecError(
            "check 'judge' was built without the run's models to grade with (a promptguard bug: please report it)"
        )
    settings = models.judge_settings
    name = argument.get("model") or settings.get("model")
    if not name:
        raise CheckSpecError(
            "check 'judge': no grader model",
            hint="name one: judge: {rubric: ..., model: NAME}, or set judge: {model: NAME} in promptguard.yaml",
        )
    try:
        grader = models.grader(name)
    except PromptguardError as exc:
        raise CheckSpecError(f"check 'judge': grader {exc.message}", hint=exc.hint) from None
    rubric, expected = argument["rubric"], argument.get("expected")
    minimum = float(argument.get("min", DEFAULT_MIN))
    template = settings.get("prompt") or DEFAULT_PROMPT
    key = judgement_key(grader.name, rubric, expected, template)

    def judge(given: CheckInput) -> Any:
        call = given.call
        asker = (str(models.path), given.case.id, call.model)
        if call.source == "replay":
            return _replayed(given, asker)
        answer, source = models.grade(grader, render(template, rubric, call.text, expected))  # CheckCallError: an ERROR
        graded = parse_grade(answer.text)
        if graded is None:
            models.note(asker, "judge", answer, source, key=key)
            raise CheckCallError(
                f'judge: grader \'{grader.name}\' did not answer JSON {{"score": 0-1, "reason": ...}}: '
                f"{quote(answer.text, 80)}"
            )
        score, reason = graded
        models.note(
            asker,
            "judge",
            answer,
            source,
            key=key,
            rubric=rubric,
            output_hash=text_hash(call.text),
            score=score,
            reason=reason,
        )
        return _verdict(score, reason, grader.name)

    def _replayed(given: CheckInput, asker: tuple[str, str, str]) -> Any:
        entry = given.golden.entry if given.golden is not None else None
        if entry is None or given.call.text != entry.output:
            raise CheckCallError(
                f"judge: the grader '{grader.name}' cannot be called under --promptguard-replay, "
                "and this output is not the golden's"
            )
        recorded = next((j for j in entry.judge if j.key == key), None)
        if recorded is None:
            raise CheckCallError(
                "judge: the golden has no judge score for this rubric and grader; "
                f"record it: {given.golden.record_command}"
            )
        models.note(
            asker,
            "judge",
            None,
            "replay",
            model=grader.name,
            cost_usd=0.0,
            key=key,
            rubric=rubric,
            output_hash=text_hash(given.call.text),
            score=recorded.score,
            reason=recorded.reason,
        )
        return _verdict(recorded.score, recorded.reason, grader.name, replayed=True)

    def _verdict(score: float, reason: str, grader_name: str, replayed: bool = False) -> Any:
        passed = score >= minimum
        how = f"{grader_name}, recorded in the golden" if replayed else grader_name
        return result(
            "judge", passed, f"judge {score:g} {'>=' if passed else '<'} min {minimum:g} ({how}): {reason}", score=score
        )

    return judge
