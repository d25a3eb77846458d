"""REST routes of auto-attendant (IVR) menus.

A menu travels as the same document ``ringfort ivr show --json`` prints and the
YAML files hold (``options`` as ``{"1": "extension:101"}``), read by the same
code, so a document that imports from YAML is accepted here too.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import Field

from ringfort.api.errors import ERROR_RESPONSES
from ringfort.api.listing import field_of, list_query, page_body
from ringfort.api.models import Body
from ringfort.services.ivr import IvrService
from ringfort.services.ivr_documents import menu_from_document, menu_to_document
from ringfort.services.paging import PageRequest, page_of

__all__ = ["menu_routes"]

SORTABLE = ("name", "number", "language")
SEARCHED = ("name", "number", "language")
PROMPTS_DESCRIPTION = "Prompt names played in order (files under prompts/<language>/ without .wav)"


def _prompts(description: str) -> Any:
    return Field(default=None, max_length=40, description=description)


class MenuFields(Body):
    """A menu's settings. On create, what is left out takes its default; on PATCH, what is
    left out stays (and null is the default again, or no number)."""

    number: str | None = Field(
        default=None, max_length=20, description="An internal number that reaches the menu."
    )
    language: str | None = Field(
        default=None, max_length=16, description="Language of the prompts, e.g. en. Default: en."
    )
    greeting: list[Annotated[str, Field(max_length=128)]] | None = _prompts(
        f"{PROMPTS_DESCRIPTION}. Default: [welcome]."
    )
    options: (
        dict[Annotated[str, Field(max_length=8)], Annotated[str, Field(max_length=140)]] | None
    ) = Field(
        default=None,
        max_length=100,
        description='What each key leads to, e.g. {"1": "extension:101", "2": "ivr:sales"};'
        " keys are 1 to 8 of 0-9, * and #.",
    )
    direct_dial: bool | None = Field(
        default=None, description="Callers may dial any extension number. Default: true."
    )
    timeout: float | None = Field(
        default=None, le=3600, description="Seconds to wait for the first key (0.5 to 60)."
    )
    interdigit_timeout: float | None = Field(
        default=None, le=3600, description="Seconds to wait for each further key (0.5 to 60)."
    )
    timeout_retries: int | None = Field(
        default=None, ge=0, le=100, description="Greetings again after no key (0 to 10)."
    )
    timeout_prompt: list[Annotated[str, Field(max_length=128)]] | None = _prompts(
        f"{PROMPTS_DESCRIPTION}, when no key came. Default: [no-input]."
    )
    timeout_destination: str | None = Field(
        default=None, max_length=140, description="Where a caller who presses nothing goes."
    )
    invalid_retries: int | None = Field(
        default=None, ge=0, le=100, description="Greetings again after a wrong key (0 to 10)."
    )
    invalid_prompt: list[Annotated[str, Field(max_length=128)]] | None = _prompts(
        f"{PROMPTS_DESCRIPTION}, after a wrong key. Default: [invalid]."
    )
    invalid_destination: str | None = Field(
        default=None,
        max_length=140,
        description="Where a caller who keeps pressing wrong keys goes.",
    )


class NewMenu(MenuFields):
    """A menu to add."""

    name: str = Field(max_length=64, description="1 to 64 of a-z, 0-9, '-' and '_', e.g. main.")


def menu_routes(service: IvrService) -> APIRouter:
    """``/api/v1/menus``: add, list, show, replace, change, delete."""
    router = APIRouter(tags=["menus"], responses=ERROR_RESPONSES)
    listing = list_query(SORTABLE, default="name", text=SEARCHED)

    @router.get("/api/v1/menus")
    async def menus(page: PageRequest = Depends(listing)) -> dict[str, Any]:
        """Menus, each as its document."""
        documents = [menu_to_document(menu) for menu in await service.list()]
        found = page_of(documents, page, field=field_of, sortable=SORTABLE, text_fields=SEARCHED)
        return page_body(found, page)

    @router.post("/api/v1/menus", status_code=201)
    async def add(body: NewMenu) -> dict[str, Any]:
        """Add a menu; every destination it names must exist, its number must be free."""
        menu = menu_from_document(body.model_dump(exclude_unset=True))
        return menu_to_document(await service.add(menu))

    @router.get("/api/v1/menus/{name}")
    async def menu(name: str) -> dict[str, Any]:
        """One menu."""
        return menu_to_document(await service.get(name))

    @router.put("/api/v1/menus/{name}")
    async def replace(name: str, body: MenuFields) -> dict[str, Any]:
        """Replace a menu whole: what is left out takes its default."""
        document = {**body.model_dump(exclude_unset=True), "name": name}
        return menu_to_document(await service.update(menu_from_document(document)))

    @router.patch("/api/v1/menus/{name}")
    async def change(name: str, body: MenuFields) -> dict[str, Any]:
        """Change some settings of a menu; ``options``, when given, replaces all its keys."""
        document = menu_to_document(await service.get(name))
        document.update(body.model_dump(exclude_unset=True))
        return menu_to_document(await service.update(menu_from_document(document)))

    @router.delete("/api/v1/menus/{name}", status_code=204)
    async def delete(name: str) -> Response:
        """Delete a menu; refused (409), naming them, while others still send calls to it."""
        await service.delete(name)
        return Response(status_code=204)

    return router
