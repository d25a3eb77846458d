"""The web interface: pages and their assets, served by the same process as the API.

The pages are static HTML and JavaScript that call the REST API (``/api/v1``): what a
page shows, the API decides, with the same logins and roles, so nothing is checked
twice and nothing can be changed in the interface that the API would refuse. No build
step, no CDN: every asset is in this package.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["PAGES", "mount_web"]

HERE = Path(__file__).resolve().parent
PAGES = ("login", "live", "reports", "agent", "admin")
"""The pages there are, at ``/ui/<name>``."""


def mount_web(app: FastAPI) -> None:
    """Serve the pages at ``/ui/...`` and their assets at ``/ui/static/...``."""
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    async def home() -> RedirectResponse:
        return RedirectResponse("/ui/live")

    @router.get("/ui")
    @router.get("/ui/")
    async def ui_home() -> RedirectResponse:
        return RedirectResponse("/ui/live")

    @router.get("/ui/{page}")
    async def page(page: str) -> FileResponse:
        if page not in PAGES:
            raise HTTPException(404, f"no page {page!r}; the pages are {', '.join(PAGES)}")
        # Pages change with Ringfort: a browser asks again rather than keep an old one.
        return FileResponse(HERE / "pages" / f"{page}.html", headers={"Cache-Control": "no-cache"})

    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")
