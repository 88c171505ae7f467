"""The `semantic` check and `golden: {method: semantic}`: cosine similarity of embeddings from the config's
`embedding_model`, over the OpenAI, Ollama and Gemini embedding wire formats, through the scheduler and cached."""

from __future__ import annotations

import json

import pytest
import yaml

from pytest_promptguard.checks.models import cosine

from .meaning import REFUND_A, REFUND_Q, write_config
from .output import text_of

EXPECTED = "You can return items within 30 days for a full refund."
CLOSE = "Returns are accepted for a month after delivery, money back."
FAR = "Please contact our support team."


def fixed_vectors(server) -> None:
    server.vectors.update(
        {EXPECTED: [1.0, 0.0, 0.0], REFUND_A: [0.9, 0.1, 0.0], CLOSE: [0.95, 0.2, 0.05], FAR: [0.0, 1.0, 0.0]}
    )
    server.answers.update({REFUND_Q: REFUND_A, "Can I send it back?": FAR})


SUITE = f"""
cases:
  - id: refund
    prompt: "{REFUND_Q}"
    checks: [{{semantic: {{expected: "{EXPECTED}", min: 0.85}}}}]
  - id: vague
    prompt: "Can I send it back?"
    checks: [{{semantic: {{expected: "{EXPECTED}", min: 0.85}}}}]
"""


def test_semantic_passes_and_fails_by_cosine_similarity_with_costs_apart(pytester, write, meaning_server):
    write_config(pytester, meaning_server, {"embedding_model": "emb"})
    fixed_vectors(meaning_server)
    write("s.prompt.yaml", SUITE)
    result = pytester.runpytest("--promptguard", "--promptguard-report=r.json")
    result.assert_outcomes(passed=1, failed=1)
    out = text_of(result)
    assert "cosine similarity 0.000 < min 0.85 (emb)" in out
    # The expected text is embedded once for both cases: 1 + 2 outputs.
    assert meaning_server.count["openai"] == 3
    request = next(r for r, p in zip(meaning_server.requests, meaning_server.paths) if p.endswith("/embeddings"))
    assert set(request) == {"model", "input"} and request["model"] == "text-embedding-3-small"
    assert isinstance(request["input"], list) and len(request["input"]) == 1
    # 7 prompt tokens a call at $20/M, apart from the cases' cost.
    assert "embedding cost $0.00042 (3 embedding calls)" in out
    report = json.loads((pytester.path / "r.json").read_text())
    [refund] = [c for c in report["cases"] if c["case"] == "refund"]
    check = refund["checks"][0][0]
    assert check["passed"] and check["reason"] == "cosine similarity 0.993 >= min 0.85 (emb)"
    assert report["totals"]["embedding_calls"] == 3


@pytest.mark.parametrize("provider", ["ollama", "gemini"])
def test_semantic_speaks_the_ollama_and_gemini_embedding_formats(pytester, write, meaning_server, provider):
    base_url = meaning_server.root if provider == "ollama" else f"{meaning_server.root}/v1beta"
    write_config(
        pytester,
        meaning_server,
        {"embedding_model": "emb"},
        emb={"provider": provider, "model": "embed-model", "base_url": base_url, "timeout_s": 5},
    )
    fixed_vectors(meaning_server)
    write("s.prompt.yaml", SUITE)
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(passed=1, failed=1)
    assert meaning_server.count[provider] == 3 and meaning_server.count["openai"] == 0
    embed_paths = [p for p in meaning_server.paths if "embed" in p]
    if provider == "ollama":
        assert embed_paths[0] == "/api/embed"
    else:
        assert embed_paths[0] == "/v1beta/models/embed-model:embedContent"


def test_embeddings_are_cached_by_model_and_text_so_a_rerun_embeds_nothing(pytester, write, meaning_server):
    write_config(pytester, meaning_server, {"embedding_model": "emb"})
    fixed_vectors(meaning_server)
    write("s.prompt.yaml", SUITE)
    pytester.runpytest("--promptguard", "--promptguard-cache").assert_outcomes(passed=1, failed=1)
    assert meaning_server.count["openai"] == 3
    pytester.runpytest("--promptguard", "--promptguard-cache").assert_outcomes(passed=1, failed=1)
    assert meaning_server.count["openai"] == 3
    # A new output: only it is embedded.
    meaning_server.answers["Can I send it back now?"] = CLOSE
    write("s.prompt.yaml", SUITE.replace("Can I send it back?", "Can I send it back now?"))
    pytester.runpytest("--promptguard", "--promptguard-cache").assert_outcomes(passed=2)
    assert meaning_server.count["openai"] == 4


def test_golden_method_semantic_passes_a_rewording_and_fails_a_change_of_meaning(pytester, write, meaning_server):
    write_config(
        pytester, meaning_server, {"embedding_model": "emb", "drift": {"baseline_samples": 1, "min_semantic": 0.9}}
    )
    meaning_server.vectors.update({REFUND_A: [1.0, 0.0, 0.0], CLOSE: [0.95, 0.2, 0.05], FAR: [0.0, 1.0, 0.0]})
    meaning_server.answers[REFUND_Q] = REFUND_A
    write(
        "s.prompt.yaml",
        f"""
        cases:
          - {{id: refund, prompt: "{REFUND_Q}", checks: [{{golden: {{method: semantic}}}}]}}
    """,
    )
    pytester.runpytest("--promptguard", "--promptguard-update").assert_outcomes(passed=1)
    meaning_server.answers[REFUND_Q] = CLOSE  # fuzzy would call this drift; its meaning is the same
    result = pytester.runpytest("--promptguard", "--promptguard-report=r.json")
    result.assert_outcomes(passed=1)
    reason = json.loads((pytester.path / "r.json").read_text())["cases"][0]["checks"][0][0]["reason"]
    assert reason == "semantic 0.977 >= min 0.9 against the golden"
    meaning_server.answers[REFUND_Q] = FAR
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(failed=1)
    assert "output drifted from the golden: semantic 0.000 < min 0.9" in text_of(result)


def test_a_sampled_semantic_golden_stores_semantic_similarities_and_calibrates_its_min(pytester, write, meaning_server):
    write_config(pytester, meaning_server, {"embedding_model": "emb"})
    variants = [REFUND_A, CLOSE, "Within 30 days you get a full refund for any item."]
    meaning_server.variants[REFUND_Q] = variants
    meaning_server.vectors.update(
        {
            variants[0]: [1.0, 0.0, 0.0],
            variants[1]: [0.95, 0.2, 0.05],
            variants[2]: [0.97, 0.1, 0.1],
            FAR: [0.0, 1.0, 0.0],
        }
    )
    write(
        "s.prompt.yaml",
        f"""
        cases:
          - {{id: refund, prompt: "{REFUND_Q}", checks: [{{golden: {{method: semantic}}}}]}}
    """,
    )
    pytester.runpytest("--promptguard", "--promptguard-update", "--promptguard-repeat=3").assert_outcomes(passed=1)
    entry = yaml.safe_load((pytester.path / "__golden__/s.prompt.golden.yaml").read_text())["cases"]["refund"]["fast"]
    assert entry["scorer"] == "semantic"
    vectors = {t: meaning_server.vectors[t] for t in variants}
    pairs = [100 * cosine(vectors[a], vectors[b]) for a in variants for b in variants if a != b]
    assert all(min(pairs) - 0.1 <= s["similarity"] <= 100 for s in entry["samples"])
    assert entry["calibrated_min"] == pytest.approx(min(s["similarity"] for s in entry["samples"]) - 5, abs=0.11)
    # Judged statistically against that baseline's samples as a set (their texts, by the verdicts' own
    # similarity; the semantic check calibrates the golden check): the same spread is not drift.
    result = pytester.runpytest("--promptguard", "--promptguard-repeat=3", "--promptguard-report=r.json")
    result.assert_outcomes(passed=2)  # the case, and its suite's drift item
    case = json.loads((pytester.path / "r.json").read_text())["cases"][0]
    assert case["verdict"]["verdict"] in ("stable", "inconclusive")


def test_embedding_config_errors_are_collection_errors_naming_file_line_and_fix(pytester, write, meaning_server):
    write_config(pytester, meaning_server, {"embedding_model": "embd"})
    write("s.prompt.yaml", SUITE)
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(errors=1)
    out = text_of(result)
    line = next(
        i
        for i, text in enumerate((pytester.path / "promptguard.yaml").read_text().splitlines(), 1)
        if text.startswith("embedding_model")
    )
    assert f"promptguard.yaml:{line}: embedding_model: unknown model 'embd' (did you mean 'emb'?)" in out
    assert "fix: define it under 'models' in promptguard.yaml" in out
    write_config(pytester, meaning_server)
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(errors=1)
    out = text_of(result)
    assert (
        "s.prompt.yaml:4: case 'refund': check 'semantic' needs an embedding model, and promptguard.yaml names none"
        in out
    )
    assert (
        "fix: add a model that embeds (provider openai, ollama, gemini or sentence-transformers) under 'models', and name it: embedding_model: NAME"
        in out
    )
