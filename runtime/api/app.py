"""The HTTP server: :func:`create_app` builds the FastAPI app that ``ladle serve`` runs.

The app's lifespan owns the model store and the :class:`~runtime.scheduler.Scheduler`:
both are made when the server starts and the scheduler is closed (every runner
reaped) when it stops. Security checks (Host header, CORS, API keys, size limits) and
metrics are installed from :mod:`runtime.api.middleware.security` and
:mod:`runtime.api.middleware.metrics`; innermost, :mod:`runtime.api.middleware.json_body`
reads every JSON route's body as JSON whatever its ``Content-Type``, as Ollama does.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence

from fastapi import APIRouter, FastAPI

from builder.store.store import Store
from ladle.settings import Settings
from ladle.versions import __version__
from runtime.api import admin, anthropic, ollama, openai, openai_responses
from runtime.api.errors import install_error_handlers
from runtime.api.middleware.json_body import install_json_bodies
from runtime.api.openapi import OPENAPI_PATH, install_openapi
from runtime.api.service import Metrics, Service
from runtime.scheduler import RunnerFactory, Scheduler


def create_app(
    settings: Settings,
    runner_factory: RunnerFactory | None = None,
    routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """The ladle server for ``settings``; ``runner_factory`` (default: runners planned on
    this machine's hardware, :class:`runtime.placement.PlannedRunnerFactory`) starts the
    runners, and tests pass a fake one. ``routers`` go before ladle's own, so that a
    route of theirs answers in place of ladle's (``--cluster``'s ``/api/ps``,
    :mod:`runtime.cluster.ingress`)."""
    install_security, install_metrics = _hooks()
    metrics: list[Metrics] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store(settings.models)
        factory = runner_factory or _planned_factory()
        scheduler = Scheduler(store, settings, factory)
        app.state.service = Service(store, scheduler, settings, metrics[0])
        try:
            yield
        finally:
            await scheduler.close()

    app = FastAPI(
        title="ladle",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=OPENAPI_PATH,
    )
    install_openapi(app)
    install_error_handlers(app)
    metrics.append(install_metrics(app))  # first, so that it counts security's refusals
    install_security(app, settings)
    routers = (
        *routers,
        ollama.router,
        openai.router,
        openai_responses.router,
        anthropic.router,
        admin.router,
    )
    install_json_bodies(app, routers)  # innermost: after the body limits
    for router in routers:
        app.include_router(router)
    return app


def _planned_factory() -> RunnerFactory:
    from runtime.placement import PlannedRunnerFactory

    return PlannedRunnerFactory()


def _hooks() -> tuple[
    Callable[[FastAPI, Settings], None],
    Callable[[FastAPI], Metrics],
]:
    """The security and metrics installers, with a clear message if a module is missing."""
    try:
        from runtime.api.middleware.metrics import install_metrics
        from runtime.api.middleware.security import install_security
    except ModuleNotFoundError as error:
        if error.name not in ("runtime.api.middleware.metrics", "runtime.api.middleware.security"):
            raise
        raise ImportError(
            f"{error.name} is missing: ladle's HTTP API installs its security checks and "
            "metrics from runtime.api.middleware.security and runtime.api.middleware.metrics"
        ) from error
    return install_security, install_metrics
