"""A noise model of a language model at temperature > 0, and the drift scenarios the verdicts must see.

Each prompt is answered by a heavy-tailed mix of a few paraphrases (3-8 by default): each paraphrase is one
of three differently worded core answers, with or without an opener, zero to two detail sentences and a
caveat; the mix weights fall off as 1/rank^zipf, so one or two paraphrases dominate and some are rare enough
that a 10-sample baseline never saw them. A share of samples also gets a small word-level variation (a
synonym, a contraction). A fresh sample's token_set_ratio to another sample ranges from about 50 to 100.
Latencies are lognormal around a per-prompt median that grows with the answer's length, with an occasional
Pareto tail (a slow call).

Drift scenarios (`Scenario`): `content` (half the answers become a refusal or state a wrong fact), `format`
(half become a bullet list, JSON-wrapped or padded), `subtle` (every answer loses one sentence), `latency`
(every call x1.5), `refusal` (half the answers become refusals), `mix` (the same paraphrases, the mix weights
reversed: the rare answers become the common ones), and `none`.

It is plain Python with no I/O, seeded per prompt and per sample, so an engine-level simulation
(`sim_drift.py`) and a local HTTP server for the end-to-end benchmark can share it: build a `NoiseModel`,
look a request's prompt up in `prompts`, and answer with `answer(case, rng, scenario)`.

    python benchmarks/noise.py     # prints a few samples and the similarity spread
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from typing import Literal

Scenario = Literal["none", "content", "format", "subtle", "latency", "refusal", "mix"]
SCENARIOS: tuple[Scenario, ...] = ("none", "content", "format", "subtle", "latency", "refusal", "mix")

# topic, act, where, what, when, wrong "when" (the wrong fact a content drift states)
TOPICS = [
    ("returns", "return an item", "the returns page", "a full refund", "30 days", "90 days"),
    ("passwords", "reset your password", "the sign-in page", "a reset link by email", "15 minutes", "24 hours"),
    ("addresses", "change the delivery address", "your order page", "a confirmation email", "2 hours", "5 days"),
    (
        "subscriptions",
        "cancel the subscription",
        "account settings",
        "access until the period ends",
        "a minute",
        "three days",
    ),
    ("parcels", "track the parcel", "the tracking link", "status updates", "4 hours", "a week"),
    ("invoices", "pay by invoice", "the checkout page", "an invoice by email", "14 days", "60 days"),
    ("receipts", "download a receipt", "your order history", "a PDF copy", "a few seconds", "two weeks"),
    ("support", "reach the support team", "the help centre", "a reply from an agent", "one business day", "a month"),
    ("gift cards", "redeem a gift card", "the payment step", "the balance applied", "a moment", "10 days"),
    (
        "exchanges",
        "exchange an item for another size",
        "the returns portal",
        "a free replacement",
        "5 working days",
        "6 weeks",
    ),
    ("accounts", "delete your account", "privacy settings", "a deletion confirmation", "30 days", "one year"),
    ("damaged items", "report a damaged item", "the order page", "a replacement or a refund", "48 hours", "3 months"),
    ("vouchers", "use a discount code", "the basket page", "the discount shown before paying", "seconds", "a day"),
    ("warranty", "claim the warranty", "the warranty form", "a repair or a replacement", "2 years", "6 months"),
    (
        "newsletters",
        "unsubscribe from the newsletter",
        "the link in any email",
        "no more marketing emails",
        "48 hours",
        "2 months",
    ),
    ("deliveries", "choose express delivery", "the shipping options", "delivery the next day", "one day", "a week"),
]

CORES = [  # three wordings of the same facts, as sentences
    ["You can {act} from {where}.", "You will get {what}, and it usually takes {when}."],
    [
        "To {act}, open {where} and follow the steps there.",
        "Expect {what}.",
        "Most requests are handled within {when}.",
    ],
    [
        "The quickest way is {where}: {act} there in a few clicks.",
        "Once it is done you'll receive {what}.",
        "The whole process takes about {when} from start to finish.",
    ],
]
OPENERS = ["Sure! ", "Of course. ", "Happy to help. ", "Good question! ", "Certainly. "]
DETAILS = [
    "Have your order number ready.",
    "This works in the app and on the website.",
    "You will get an email to confirm it.",
    "There is no extra charge for this.",
    "You need to be signed in first.",
]
CAVEATS = [
    "Note that some exceptions may apply.",
    "If anything goes wrong, our support team can help.",
    "Items from marketplace sellers may follow different rules.",
]
VARIATIONS = [
    ("usually", "typically"),
    ("you'll", "you will"),
    ("about", "around"),
    ("follow the steps", "follow the instructions"),
    ("Once it is done", "When that's done"),
    ("receive", "get"),
    ("handled", "processed"),
]
REFUSALS = [
    "I'm sorry, but I can't help with {topic}. Please contact support.",
    "Unfortunately I am not able to answer questions about how to {act}.",
    "That is outside what I can do here. Please check our FAQ on {topic}.",
    "I cannot assist with that request.",
]
PADDING = [
    "I hope this helps, and thank you for reaching out to us today.",
    "Let me know if there is anything else I can do for you, I am always happy to help with any other questions.",
    "We really appreciate your patience and your business.",
]


@dataclass(frozen=True)
class NoiseParams:
    """What varies between models: how many paraphrases, how heavy the tail of their mix, how often a word
    changes, how noisy and heavy-tailed the latency is."""

    paraphrases: tuple[int, int] = (3, 8)
    zipf: float = 1.2  # mix weight of the k-th paraphrase is proportional to 1 / k**zipf
    variation: float = 0.3  # chance that a sample gets a one-word variation
    latency_sigma: float = 0.35  # of log latency
    tail_share: float = 0.05  # share of calls that are slow
    tail_index: float = 1.5  # Pareto index of the slowdown of a slow call (heavier below 2)


@dataclass(frozen=True)
class Answer:
    text: str
    latency_ms: float


@dataclass
class Prompt:
    """One prompt as the model answers it: its paraphrases (sentence lists) and their mix weights."""

    index: int
    topic: tuple[str, ...]
    paraphrases: list[list[str]]
    weights: list[float]
    median_ms: float
    params: NoiseParams

    @property
    def text(self) -> str:
        return f"{self.index}: How do I {self.topic[1]}?"

    def answer(self, rng: random.Random, scenario: Scenario = "none", share: float = 0.5) -> Answer:
        """One sample; under `content`, `format` and `refusal` a `share` of the answers changes."""
        weights = self.weights[::-1] if scenario == "mix" else self.weights
        sentences = list(rng.choices(self.paraphrases, weights)[0])
        if rng.random() < self.params.variation:
            sentences = _vary(sentences, rng)
        text = " ".join(sentences)
        if scenario == "refusal" and rng.random() < share:
            text = self._refusal(rng)
        elif scenario == "content" and rng.random() < share:
            text = self._refusal(rng) if rng.random() < 0.5 else text.replace(self.topic[4], self.topic[5])
        elif scenario == "format" and rng.random() < share:
            text = _reformat(sentences, rng)
        elif scenario == "subtle" and len(sentences) > 1:
            del sentences[rng.randrange(len(sentences))]
            text = " ".join(sentences)
        return Answer(text, self._latency(text, rng) * (1.5 if scenario == "latency" else 1.0))

    def _refusal(self, rng: random.Random) -> str:
        return rng.choice(REFUSALS).format(topic=self.topic[0], act=self.topic[1])

    def _latency(self, text: str, rng: random.Random) -> float:
        length = (len(text) / 150) ** 0.5  # longer answers take longer to generate
        slow = rng.paretovariate(self.params.tail_index) if rng.random() < self.params.tail_share else 1.0
        return self.median_ms * length * math.exp(rng.gauss(0.0, self.params.latency_sigma)) * slow


@dataclass
class NoiseModel:
    """`cases` prompts, each with its own paraphrase mix, all drawn from `seed`."""

    seed: int | str = 0
    cases: int = 12
    params: NoiseParams = field(default_factory=NoiseParams)
    prompts: list[Prompt] = field(init=False)

    def __post_init__(self) -> None:
        rng = random.Random(f"model/{self.seed}")
        self.prompts = [self._prompt(i, rng) for i in range(self.cases)]

    def answer(self, case: int, rng: random.Random, scenario: Scenario = "none", share: float = 0.5) -> Answer:
        return self.prompts[case].answer(rng, scenario, share)

    def _prompt(self, index: int, rng: random.Random) -> Prompt:
        topic = TOPICS[(index + rng.randrange(len(TOPICS))) % len(TOPICS)]
        act, where, what, when = topic[1:5]
        fill = {"act": act, "where": where, "what": what, "when": when}
        low, high = self.params.paraphrases
        paraphrases, seen = [], set()
        while len(paraphrases) < rng.randint(low, high):
            core = [sentence.format(**fill) for sentence in rng.choice(CORES)]
            details = rng.sample(DETAILS, rng.choice((0, 0, 1, 1, 2)))
            body = core[:1] + details + core[1:] if rng.random() < 0.5 else core + details
            if rng.random() < 0.3:
                body.append(rng.choice(CAVEATS))
            if rng.random() < 0.4:
                body[0] = rng.choice(OPENERS) + body[0]
            key = " ".join(body)
            if key not in seen:
                seen.add(key)
                paraphrases.append(body)
        weights = [1.0 / (k + 1) ** self.params.zipf for k in range(len(paraphrases))]
        return Prompt(index, topic, paraphrases, weights, median_ms=rng.uniform(300, 1500), params=self.params)


def _vary(sentences: list[str], rng: random.Random) -> list[str]:
    text = " ".join(sentences)
    options = [(a, b) for a, b in VARIATIONS if a in text] + [(b, a) for a, b in VARIATIONS if b in text]
    if not options:
        return sentences
    old, new = rng.choice(options)
    return [s.replace(old, new, 1) for s in sentences]


def _reformat(sentences: list[str], rng: random.Random) -> str:
    kind = rng.choice(("list", "json", "padded"))
    if kind == "list":
        return "\n".join(f"- {s}" for s in sentences)
    if kind == "json":
        return json.dumps({"answer": " ".join(sentences)})
    return " ".join(sentences + rng.sample(PADDING, rng.choice((1, 2))))


def _demo() -> None:
    from statistics import quantiles

    from rapidfuzz import fuzz, utils

    model = NoiseModel(seed=1)
    rng = random.Random(0)
    for scenario in SCENARIOS:
        print(f"--- {scenario}")
        for _ in range(3):
            print("  ", model.answer(0, rng, scenario))
    scores = []
    for case in range(model.cases):
        golden = model.answer(case, rng).text
        scores += [
            fuzz.token_set_ratio(golden, model.answer(case, rng).text, processor=utils.default_process)
            for _ in range(50)
        ]
    print(
        "token_set_ratio of a fresh sample to a recorded one: min",
        round(min(scores)),
        "deciles",
        [round(q) for q in quantiles(scores, n=10)],
    )


if __name__ == "__main__":
    _demo()
