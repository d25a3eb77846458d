"""``/metrics``: the node's counters in the Prometheus text exposition format."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from ringfort.services.metrics import CONTENT_TYPE, Metric, render

__all__ = ["metrics_routes"]


def metrics_routes(gather: Callable[[], Iterable[Metric]]) -> APIRouter:
    """``GET /metrics``, the families ``gather`` reads when scraped."""
    router = APIRouter(tags=["operations"])

    @router.get("/metrics", response_class=PlainTextResponse)
    async def prometheus() -> PlainTextResponse:
        """Prometheus text format: registrations, calls in progress and ended (by
        disposition), callers waiting per queue, agents by state, SIP messages in and out,
        RTP packets relayed, errors."""
        return PlainTextResponse(render(gather()), media_type=CONTENT_TYPE)

    return router
