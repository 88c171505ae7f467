"""Synthetic similarity matrices for the drift tests: a heavy-tailed mix of answer types (a type's samples are
near-copies of each other), exchangeable by construction, and drift as samples far from every type."""

from __future__ import annotations

import random


class Mixture:
    def __init__(self, rng: random.Random, types: int = 6, exponent: float = 1.3) -> None:
        self.rng = rng
        self.weights = [1 / (k + 1) ** exponent for k in range(types)]
        self.between = {(a, b): rng.uniform(40, 85) for a in range(types) for b in range(a + 1, types)}

    def kinds(self, n: int) -> list[int]:
        return self.rng.choices(range(len(self.weights)), self.weights, k=n)

    def matrix(self, kinds: list[int], far: float = 20.0) -> list[list[float]]:
        """Similarities of samples of these kinds; kind -1 is a new behaviour (a refusal): `far` from every
        answer, near-copies among themselves."""
        rng = self.rng
        size = len(kinds)
        m = [[100.0] * size for _ in range(size)]
        for i in range(size):
            for j in range(i + 1, size):
                a, b = sorted((kinds[i], kinds[j]))
                if a == b:
                    value = rng.uniform(92, 100)
                elif a == -1:
                    value = far + rng.uniform(-5, 5)
                else:
                    value = self.between[(a, b)] + rng.uniform(-5, 5)
                m[i][j] = m[j][i] = value
        return m


def null_case(rng: random.Random, n_baseline: int, n_new: int) -> list[list[float]]:
    mix = Mixture(rng)
    return mix.matrix(mix.kinds(n_baseline + n_new))


def drifted_case(rng: random.Random, n_baseline: int, n_new: int, share: float) -> list[list[float]]:
    """Each new sample is a new behaviour with probability `share`."""
    mix = Mixture(rng)
    kinds = mix.kinds(n_baseline + n_new)
    kinds = kinds[:n_baseline] + [-1 if rng.random() < share else k for k in kinds[n_baseline:]]
    return mix.matrix(kinds)
