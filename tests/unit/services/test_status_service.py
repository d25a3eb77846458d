"""StatusService: only what is in force now, with times a person can read."""

from __future__ import annotations

from ringfort.pbx.ports import Binding, BlockedAddress
from ringfort.services.database import Database
from ringfort.services.status import BlockView, RegistrationView, StatusService, format_source
from ringfort.services.store_ports import SqlBindingStore, SqlBlockStore

NOW = 1_717_142_400.0  # 2024-05-31T08:00:00Z


def a_binding(number: str, contact: str, expires_at: float, **changes: object) -> Binding:
    values: dict[str, object] = {
        "number": number,
        "contact": contact,
        "expires_at": expires_at,
        "call_id": "c",
        "cseq": 1,
        "q": None,
        "transport": "UDP",
        "source_host": "192.0.2.10",
        "source_port": 5060,
        "behind_nat": False,
        "user_agent": None,
    }
    values.update(changes)
    return Binding(**values)  # type: ignore[arg-type]


async def test_nothing_registered_nothing_blocked(db: Database) -> None:
    service = StatusService(db=db)

    assert await service.registrations(NOW) == []
    assert await service.blocked(NOW) == []


async def test_registrations_show_active_bindings_sorted_with_seconds_left(db: Database) -> None:
    await SqlBindingStore(db=db).save_bindings(
        [
            a_binding("102", "sip:102@10.0.0.5:5060", NOW + 59.2, transport="TCP"),
            a_binding(
                "101",
                "sip:101@10.0.0.4:5060",
                NOW + 3600,
                source_host="2001:db8::1",
                source_port=40000,
                behind_nat=True,
                user_agent="Deskphone 2",
            ),
            a_binding("101", "sip:101@gone", NOW - 1),
        ],
        [],
    )

    views = await StatusService(db=db).registrations(NOW)

    assert views == [
        RegistrationView(
            number="101",
            contact="sip:101@10.0.0.4:5060",
            source="[2001:db8::1]:40000",
            transport="UDP",
            expires_in=3600,
            user_agent="Deskphone 2",
            behind_nat=True,
        ),
        RegistrationView(
            number="102",
            contact="sip:102@10.0.0.5:5060",
            source="192.0.2.10:5060",
            transport="TCP",
            expires_in=60,
            user_agent=None,
            behind_nat=False,
        ),
    ]


async def test_blocked_shows_blocks_in_force_with_an_iso_end_time(db: Database) -> None:
    store = SqlBlockStore(db=db)
    await store.save_block(BlockedAddress("192.0.2.66", NOW + 600, 10, "failed authentication"))
    await store.save_block(BlockedAddress("192.0.2.1", NOW - 5, 10, "failed authentication"))

    views = await StatusService(db=db).blocked(NOW)

    assert views == [
        BlockView(
            address="192.0.2.66",
            blocked_until="2024-05-31T08:10:00+00:00",
            seconds_left=600,
            failures=10,
            reason="failed authentication",
        )
    ]


def test_format_source_brackets_ipv6() -> None:
    assert format_source("192.0.2.1", 5060) == "192.0.2.1:5060"
    assert format_source("::1", 5070) == "[::1]:5070"
