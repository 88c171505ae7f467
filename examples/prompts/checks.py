"""Custom checks for the example suites: `python: checks:<function>`."""

from __future__ import annotations

from pytest_promptguard.checks.structured import parse_json_output


def total_matches_items(output: str, case) -> tuple[bool, str]:
    order, problem = parse_json_output(output)
    if problem:
        return False, problem
    counted = sum(item["quantity"] for item in order["items"])
    return counted == order["total_items"], f"items add up to {counted}, total_items is {order['total_items']}"
