"""What a reply cost: what it reports itself, else its tokens at the model's `price:`, else at the price snapshot's."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ..config.pricetable import table_price
from ..config.pricing import Price, cost_usd
from ..core.results import Request
from ..providers import Reply

if TYPE_CHECKING:
    from ..config.loader import ModelSpec


class Costs:
    """Prices replies on the scheduler's loop, cheaply: the snapshot is matched once per model, served model and day
    (matching costs more than the rest of a call's bookkeeping), not once per call."""

    def __init__(self) -> None:
        self._prices: dict[tuple[object, ...], Price | None] = {}

    def of(self, reply: Reply, request: Request, spec: ModelSpec) -> tuple[float | None, str | None, str | None]:
        """(USD, what priced it, the price entry matched): the cost the reply reports itself, else its tokens at the
        model's `price:`, else at the snapshot's price of the served model (else of the model asked) today."""
        if reply.cost_usd is not None:
            return reply.cost_usd, "reported with the answer", None
        price = spec.price or self._table_price(spec, reply.model_served, request.model_id)
        cost = cost_usd(reply.usage, price)
        if cost is None or price is None:
            return None, None, None
        return cost, price.source, price.priced_as

    def _table_price(self, spec: ModelSpec, served: str | None, asked: str | None) -> Price | None:
        now = datetime.now(timezone.utc)
        key = (spec.provider, spec.base_url, spec.price_provider, served, asked, now.date())
        if key not in self._prices:
            self._prices[key] = table_price(
                (served, asked), kind=spec.provider, base_url=spec.base_url, hint=spec.price_provider, when=now
            )
        return self._prices[key]
