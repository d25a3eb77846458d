"""REST routes of extensions: the numbers phones register as.

The same service as ``ringfort extension``; a SIP password is shown once, when
the server generates it, and never listed.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import Field

from ringfort.api.errors import ERROR_RESPONSES
from ringfort.api.listing import field_of, list_query, page_body
from ringfort.api.models import Body
from ringfort.services.extensions import (
    FORWARDS,
    NAME_MAX_LENGTH,
    NUMBER_MAX_DIGITS,
    PASSWORD_MAX_LENGTH,
    ExtensionService,
    ForwardingChange,
)
from ringfort.services.paging import PageRequest, page_of

__all__ = ["extension_routes"]

SORTABLE = ("number", "name", "created_at")
SEARCHED = ("number", "name")


class NewExtension(Body):
    """An extension to add."""

    number: str = Field(
        max_length=NUMBER_MAX_DIGITS * 4, description="2 to 15 digits; the phone's user name."
    )
    name: str = Field(
        max_length=NAME_MAX_LENGTH * 2, description="Who or what it is (1 to 80 characters)."
    )
    password: str | None = Field(
        default=None,
        max_length=PASSWORD_MAX_LENGTH * 2,
        description="SIP password: 8 to 128 printable ASCII characters without spaces."
        " Left out: a strong one is generated and returned once.",
    )


class ExtensionChange(Body):
    """What changes of an extension; what is left out stays."""

    name: str | None = Field(
        default=None, max_length=NAME_MAX_LENGTH * 2, description="A new name (1 to 80)."
    )


class NewPassword(Body):
    """A new SIP password."""

    password: str | None = Field(
        default=None,
        max_length=PASSWORD_MAX_LENGTH * 2,
        description="8 to 128 printable ASCII characters; null or left out: one is generated"
        " and returned once.",
    )


_FORWARD_DESCRIPTION = (
    "a number someone has (an extension, a menu, a time condition, a queue, a DID);"
    " null or empty switches it off; left out, it stays as it is."
)


class ForwardingBody(Body):
    """An extension's call forwarding and do-not-disturb; what is left out stays."""

    always: str | None = Field(
        default=None, max_length=40, description=f"Every call goes here: {_FORWARD_DESCRIPTION}"
    )
    busy: str | None = Field(
        default=None,
        max_length=40,
        description=f"Calls that find the extension busy go here: {_FORWARD_DESCRIPTION}",
    )
    no_answer: str | None = Field(
        default=None,
        max_length=40,
        description="Calls not answered in the ring time, or with no phone registered, go"
        f" here: {_FORWARD_DESCRIPTION}",
    )
    dnd: bool | None = Field(
        default=None, description="Do-not-disturb: calls find the extension busy."
    )

    def change(self) -> ForwardingChange:
        """The service's change: a forward given as null becomes ``""`` (off)."""
        given = self.model_fields_set
        forwards = {
            name: (getattr(self, name) or "") if name in given else None for name in FORWARDS
        }
        return ForwardingChange(**forwards, dnd=self.dnd)


def extension_routes(service: ExtensionService) -> APIRouter:
    """``/api/v1/extensions``: add, list, show, rename, remove, set the password and the
    forwarding."""
    router = APIRouter(tags=["extensions"], responses=ERROR_RESPONSES)
    listing = list_query(SORTABLE, default="number", text=SEARCHED)

    @router.get("/api/v1/extensions")
    async def extensions(page: PageRequest = Depends(listing)) -> dict[str, Any]:
        """Extensions (never their passwords), by number unless ``order`` says otherwise."""
        found = page_of(
            await service.list(), page, field=field_of, sortable=SORTABLE, text_fields=SEARCHED
        )
        return page_body(found, page)

    @router.post("/api/v1/extensions", status_code=201)
    async def add(body: NewExtension) -> dict[str, Any]:
        """Add an extension; the answer holds the password only when it was generated."""
        view, password = await service.add(body.number, body.name, body.password)
        answer = asdict(view)
        if body.password is None:
            answer["password"] = password
        return answer

    @router.get("/api/v1/extensions/{number}")
    async def extension(number: str) -> dict[str, Any]:
        """One extension."""
        return asdict(await service.get(number))

    @router.patch("/api/v1/extensions/{number}")
    async def change(number: str, body: ExtensionChange) -> dict[str, Any]:
        """Rename an extension."""
        if body.name is None:
            return asdict(await service.get(number))
        return asdict(await service.rename(number, body.name))

    @router.patch("/api/v1/extensions/{number}/forwarding")
    async def set_forwarding(number: str, body: ForwardingBody) -> dict[str, Any]:
        """Set an extension's forwards (always, busy, no answer) and do-not-disturb; 400
        naming the field for a forward that is nobody's number or the extension's own."""
        return asdict(await service.set_forwarding(number, body.change()))

    @router.put("/api/v1/extensions/{number}/password")
    async def set_password(number: str, body: NewPassword) -> dict[str, Any]:
        """Set the SIP password; phones registered with the old one keep working until they
        register again."""
        password = await service.set_password(number, body.password)
        answer: dict[str, Any] = {"number": number}
        if body.password is None:
            answer["password"] = password
        return answer

    @router.delete("/api/v1/extensions/{number}", status_code=204)
    async def remove(number: str) -> Response:
        """Remove an extension and its registrations; refused (409) while a menu, time
        condition or queue still sends calls to it."""
        await service.remove(number)
        return Response(status_code=204)

    return router
