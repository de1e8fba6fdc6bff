"""The worker's HTTP pages: health, statements, records, claims, metrics, dead letters.

:class:`WebViews` registers the pages (:meth:`_register_pages`) and the
middleware that asks for the API token on every page but ``/health`` and
``/metrics`` (:mod:`streams.apiauth`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from faust.web import View

from streams.apiauth import OPEN_PAGES, authorized, unauthorized
from streams.metricspage import MetricsPage
from streams.readouts import WorkerReadouts
from streams.workerconfig import WorkerConfig

#: a page's handler: (the view, the request, the path's parameters) -> the response
PageHandler = Callable[..., Awaitable[Any]]


def page_view(handler: PageHandler) -> type[Any]:
    """A Faust view that answers GET with ``handler(view, request, **path parameters)``.

    Faust calls a function page with its view first (``web.json`` and the
    like are the view's); a bound method would lose it, so it goes through here.
    """

    class Page(View):
        async def get(self, request: Any, **params: Any) -> Any:
            return await handler(self, request, **params)

    return Page


class WebViews(WorkerReadouts):
    """The HTTP pages and the token they ask for."""

    def __init__(self, cfg: WorkerConfig) -> None:
        super().__init__(cfg)
        #: what ``/metrics`` serves: a snapshot of this worker at every scrape
        self.metrics_page = MetricsPage(cfg.clock)

    def _register_pages(self) -> None:
        app = self.app
        app.page("/health", name="health")(page_view(self._health))
        app.page("/statements/{contract_id}/{month}", name="statement")(page_view(self._statement))
        app.page("/services/{service}/{month}", name="service_month")(
            page_view(self._service_month)
        )
        app.page("/claims/{contract_id}", name="claims")(page_view(self._claims))
        app.page("/metrics", name="metrics")(page_view(self._metrics))
        app.page("/dead-letters", name="dead_letters")(page_view(self._dead_letters))

    async def _health(self, web: Any, request: Any) -> Any:
        del request
        status, body = self.health_report()
        return web.json(body, status=status)

    def health_report(self) -> tuple[int, dict[str, Any]]:
        """What ``/health`` answers now: the HTTP status (503 while degraded) and the body.

        Call on the loop; the body is made new at each call.
        """
        loop = asyncio.get_running_loop()
        degraded = self.degraded()
        return (
            503 if degraded else 200,
            {
                "status": "degraded" if degraded else "ok",
                "degraded": degraded,
                "owns_statements": self._owns_stage2(),
                "statement_partitions": self._owned(),
                "assignment": self._assignment(),
                "statements_ready": bool(self.stages)
                and all(st.ready for st in self.stages.values()),
                "caught_up": self.caught_up,
                "lag": sum(self.lag.values()) if self._lag_fresh() else None,
                "lagging": {f"{t}:{p}": n for (t, p), n in self.lag.items() if n > 0},
                "pending_outputs": sum(len(st._pending) for st in self.stages.values()),
                # published and not yet stored and recorded (send, store, confirm)
                "unconfirmed_outputs": sum(len(st._unconfirmed) for st in self.stages.values()),
                "reseeks": self.reseeks,
                "busy": {
                    agent: {"step": step, "seconds": round(loop.time() - since, 1)}
                    for agent, (since, step) in self._busy_now().items()
                },
                "probes": {
                    "group": self.probes.group_id,
                    "batches": self.probes.batches,
                    "checkpoints": self.probes.checkpoints,
                    "restored_keys": self.probes.restored_keys,
                    "failures": self.probes.failures,
                    "state": self.probes.state,
                },
                "statements": {
                    "failures": self.stage2_failures,
                    # wall seconds per partition: recompute (on its thread), then publish
                    "last_cycle": self.last_cycle,
                    # inputs folded -> their statements published, per cycle, recent window
                    "delay": self.statement_delay.health(),
                    "publish_seconds": {k: round(v, 3) for k, v in self.publish_phases.items()},
                    "published_by_partition": {
                        str(p): n for p, n in sorted(self.published.items())
                    },
                },
                "event_loop": {
                    **self.loop_lag.health(),
                    # a collection holds the interpreter lock, so the loop waits as long
                    "gc": self.gc_pauses.recent(),
                },
            },
        )

    async def _statement(self, web: Any, request: Any, contract_id: str, month: str) -> Any:
        return self._latest_page(
            web, request, f"{contract_id}|{month}", "contract_month", "statement"
        )

    async def _service_month(self, web: Any, request: Any, service: str, month: str) -> Any:
        return self._latest_page(web, request, f"{service}|{month}", "service_month", "record")

    def _latest_page(self, web: Any, request: Any, key: str, kind: str, what: str) -> Any:
        """The latest output of ``kind`` under ``key``, or 404 naming ``what`` is missing."""
        if not self._authorized(request):
            return unauthorized(web)
        found = self._latest(key.encode())
        if found is None or found.get("kind") != kind:
            return web.json({"error": f"no such {what} on this worker"}, status=404)
        return web.json(found)

    async def _claims(self, web: Any, request: Any, contract_id: str) -> Any:
        if not self._authorized(request):
            return unauthorized(web)
        found = [
            o
            for o in self._all_latest()
            if o.get("kind") == "claim_decision" and o.get("contract_id") == contract_id
        ]
        return web.json({"claims": sorted(found, key=lambda o: str(o["claim_id"]))})

    async def _metrics(self, web: Any, request: Any) -> Any:
        del request
        from prometheus_client import CONTENT_TYPE_LATEST

        body = await self.metrics_page.render(self.metrics_snapshot())
        return web.bytes(body, content_type=CONTENT_TYPE_LATEST.split(";")[0])

    async def _dead_letters(self, web: Any, request: Any) -> Any:
        if not self._authorized(request):
            return unauthorized(web)
        # from the topic: every worker's, and not reset when a worker restarts
        return web.json({"dead_letters": self.dead_letter_tally.counts()})

    def _authorized(self, request: Any) -> bool:
        return authorized(self.cfg.api_token, request)

    def _on_webserver_init(self, web: Any) -> None:
        """Every page but ``/health`` and ``/metrics`` asks for the token, Faust's own too.

        Faust registers its views (``/``, ``/router/``, ``/table/``) itself;
        one aiohttp middleware guards them and the project's pages alike.
        """
        from aiohttp import web as aioweb

        @aioweb.middleware
        async def token_required(request: Any, handler: Any) -> Any:
            if request.path in OPEN_PAGES or self._authorized(request):
                return await handler(request)
            return aioweb.json_response(
                {"error": "this page needs the API token: Authorization: Bearer <token>"},
                status=401,
                headers={"WWW-Authenticate": "Bearer"},
            )

        web.web_app.middlewares.append(token_required)
