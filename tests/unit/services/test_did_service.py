"""DIDs: a number in the one number plan, routed to a destination that must exist."""

from __future__ import annotations

import pytest

from ringfort.apps.ivr.config import IvrMenu
from ringfort.errors import ConflictError, NotFoundError, ValidationError
from ringfort.pbx.destination import Destination, DestinationKind
from ringfort.services.database import Database
from ringfort.services.dialplan import DialPlanService
from ringfort.services.dids import DidService
from ringfort.services.extensions import ExtensionService
from ringfort.services.ivr import IvrService


async def test_a_did_routes_its_calls_and_keeps_its_destination_alive(db: Database) -> None:
    await ExtensionService(db=db).add("101", "Desk")
    await IvrService(db=db).add(IvrMenu(name="main", number="700"))
    dids = DidService(db=db)
    added = await dids.add("74951230000", "ivr:main", "the office's main number")
    assert (added.number, added.destination) == ("74951230000", "ivr:main")
    plan = DialPlanService(db)
    assert await plan.resolve("74951230000") == Destination(DestinationKind.IVR, "main")

    # The number is taken in the one plan, both ways.
    with pytest.raises(ConflictError, match="already belongs to DID 74951230000"):
        await dids.add("74951230000", "extension:101")
    with pytest.raises(ConflictError, match="already belongs to extension 101"):
        await dids.add("101", "ivr:main")
    with pytest.raises(ConflictError, match="already belongs to DID"):
        await ExtensionService(db=db).add("74951230000", "Clash")
    # The menu it sends calls to stays while it does.
    with pytest.raises(ConflictError, match="DID 74951230000"):
        await IvrService(db=db).delete("main")

    with pytest.raises(ValidationError, match="no menu nowhere") as bad:
        await dids.add("74951230001", "ivr:nowhere")
    assert bad.value.field == "destination"
    with pytest.raises(ValidationError, match="not a number") as bad:
        await dids.add("+7495", "ivr:main")
    assert bad.value.field == "number"

    changed = await dids.update("74951230000", destination="extension:101", description="")
    assert changed.destination == "extension:101"
    assert await plan.resolve("74951230000") == Destination(DestinationKind.EXTENSION, "101")
    assert [d.number for d in await dids.list()] == ["74951230000"]
    await dids.remove("74951230000")
    assert await plan.resolve("74951230000") is None
    with pytest.raises(NotFoundError, match="no DID 74951230000"):
        await dids.get("74951230000")
