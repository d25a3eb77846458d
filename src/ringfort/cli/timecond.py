"""``ringfort timecond``: time conditions, one destination in office hours, another outside."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from ringfort.cli.output import fail, print_json, print_table
from ringfort.cli.state import run_with_database, state_of
from ringfort.errors import ValidationError
from ringfort.services.database import Database
from ringfort.services.ivr_documents import (
    time_condition_from_document,
    time_condition_to_document,
)
from ringfort.services.timecond import TimeConditionService

app = typer.Typer(
    help=(
        "Manage time conditions: weekly hours and holidays in a time zone. A call to one goes"
        " to its --match destination inside the hours and to --nomatch outside them and on"
        " holidays. A destination is extension:NUMBER, ivr:MENU, timecond:NAME or hangup."
        " See docs/ivr.md."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)

NameArgument = Annotated[
    str,
    typer.Argument(
        metavar="NAME",
        help="The time condition's name: lower case letters, digits, '-' and '_'"
        " (e.g. office-hours).",
        show_default=False,
    ),
]
NumberOption = Annotated[
    str | None,
    typer.Option(
        "--number",
        metavar="DIGITS",
        help="An internal number that reaches the time condition (not used by an extension or"
        " a menu).",
        show_default=False,
    ),
]
TimezoneHelp = "IANA time zone the hours are in, e.g. Europe/Moscow, America/New_York or UTC."
RuleHelp = (
    "Hours: DAYS HH:MM-HH:MM, e.g. 'mon-fri 09:00-18:00', 'sat,sun 10:00-14:00'. Days are"
    " mon..sun, ranges and lists; 24:00 ends at midnight; an end before the start runs past"
    " midnight into the next day ('fri 22:00-06:00'). Repeat for more rules; they may overlap."
)
MatchOption = Annotated[
    str | None,
    typer.Option(
        "--match",
        metavar="DESTINATION",
        help="Where calls go inside the hours, e.g. ivr:main.",
        show_default=False,
    ),
]
NomatchOption = Annotated[
    str | None,
    typer.Option(
        "--nomatch",
        metavar="DESTINATION",
        help="Where calls go outside the hours and on holidays, e.g. ivr:closed.",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


@app.command("add")
def add(
    ctx: typer.Context,
    name: NameArgument,
    timezone: Annotated[
        str, typer.Option("--timezone", metavar="ZONE", help=TimezoneHelp, show_default=False)
    ],
    rule: Annotated[
        list[str], typer.Option("--rule", metavar="RULE", help=RuleHelp, show_default=False)
    ],
    match: Annotated[
        str,
        typer.Option(
            "--match",
            metavar="DESTINATION",
            help="Where calls go inside the hours, e.g. ivr:main.",
            show_default=False,
        ),
    ],
    nomatch: Annotated[
        str,
        typer.Option(
            "--nomatch",
            metavar="DESTINATION",
            help="Where calls go outside the hours and on holidays, e.g. ivr:closed.",
            show_default=False,
        ),
    ],
    holiday: Annotated[
        list[str] | None,
        typer.Option(
            "--holiday",
            metavar="YYYY-MM-DD",
            help="A whole local day that counts as outside the hours; repeatable.",
            show_default=False,
        ),
    ] = None,
    number: NumberOption = None,
) -> None:
    """Add a time condition: its hours, holidays and the two places it sends calls.

    \b
    Example:
      ringfort timecond add office --timezone Europe/Moscow \\
          --rule "mon-fri 09:00-18:00" --holiday 2026-12-31 \\
          --match ivr:main --nomatch ivr:closed --number 710
    """
    settings = state_of(ctx).settings()
    document = {
        "name": name,
        "number": number,
        "timezone": timezone,
        "rules": rule,
        "holidays": holiday or [],
        "match": match,
        "nomatch": nomatch,
    }

    async def action(db: Database) -> None:
        await TimeConditionService(db=db).add(time_condition_from_document(document))

    run_with_database(settings, action)
    typer.echo(f"added time condition {name}" + (f" on number {number}" if number else ""))


@app.command("set")
def set_(
    ctx: typer.Context,
    name: NameArgument,
    timezone: Annotated[
        str | None,
        typer.Option("--timezone", metavar="ZONE", help=TimezoneHelp, show_default=False),
    ] = None,
    rule: Annotated[
        list[str] | None,
        typer.Option(
            "--rule",
            metavar="RULE",
            help="Replace all the rules with these; repeatable. " + RuleHelp,
            show_default=False,
        ),
    ] = None,
    holiday: Annotated[
        list[str] | None,
        typer.Option(
            "--holiday",
            metavar="YYYY-MM-DD",
            help="Add a holiday; repeatable.",
            show_default=False,
        ),
    ] = None,
    remove_holiday: Annotated[
        list[str] | None,
        typer.Option(
            "--remove-holiday",
            metavar="YYYY-MM-DD",
            help="Remove a holiday; repeatable.",
            show_default=False,
        ),
    ] = None,
    no_holidays: Annotated[
        bool,
        typer.Option("--no-holidays", help="Remove every holiday (before adding --holiday ones)."),
    ] = False,
    match: MatchOption = None,
    nomatch: NomatchOption = None,
    number: NumberOption = None,
    no_number: Annotated[
        bool, typer.Option("--no-number", help="Take the time condition's number away.")
    ] = False,
) -> None:
    """Change a time condition: only what is given changes, the rest stays.

    \b
    Example:
      ringfort timecond set office --holiday 2027-01-01 --rule "mon-fri 08:00-17:00"
    """
    settings = state_of(ctx).settings()
    if number is not None and no_number:
        raise fail("give either --number or --no-number, not both")

    async def action(db: Database) -> None:
        service = TimeConditionService(db=db)
        document = time_condition_to_document(await service.get(name))
        for key, value in (
            ("timezone", timezone),
            ("rules", rule),
            ("match", match),
            ("nomatch", nomatch),
            ("number", number),
        ):
            if value is not None:
                document[key] = value
        if no_number:
            document["number"] = None
        holidays: list[str] = [] if no_holidays else list(document["holidays"])
        for day in remove_holiday or []:
            if day.strip() not in holidays:
                listed = ", ".join(holidays) or "none"
                raise ValidationError(f"{name} has no holiday {day} (its holidays: {listed})")
            holidays.remove(day.strip())
        document["holidays"] = [*holidays, *(holiday or [])]
        await service.update(time_condition_from_document(document))

    run_with_database(settings, action)
    typer.echo(f"changed time condition {name}")


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List every time condition with its hours and destinations."""
    settings = state_of(ctx).settings()

    async def action(db: Database) -> list[dict[str, Any]]:
        conditions = await TimeConditionService(db=db).list()
        return [time_condition_to_document(condition) for condition in conditions]

    conditions = run_with_database(settings, action)
    if as_json:
        print_json(conditions)
    elif not conditions:
        typer.echo(
            "no time conditions; add one with: ringfort timecond add NAME --timezone ZONE"
            " --rule RULE --match DESTINATION --nomatch DESTINATION"
        )
    else:
        print_table(
            ("NAME", "NUMBER", "TIMEZONE", "RULES", "HOLIDAYS", "MATCH", "NOMATCH"),
            [
                (
                    condition["name"],
                    condition["number"] or "",
                    condition["timezone"],
                    "; ".join(condition["rules"]),
                    len(condition["holidays"]),
                    condition["match"],
                    condition["nomatch"],
                )
                for condition in conditions
            ],
        )


@app.command("show")
def show(ctx: typer.Context, name: NameArgument, as_json: JsonOption = False) -> None:
    """Show everything about one time condition."""
    settings = state_of(ctx).settings()

    async def action(db: Database) -> dict[str, Any]:
        return time_condition_to_document(await TimeConditionService(db=db).get(name))

    condition = run_with_database(settings, action)
    if as_json:
        print_json(condition)
        return
    typer.echo(f"name: {condition['name']}")
    typer.echo(f"number: {condition['number'] or '-'}")
    typer.echo(f"timezone: {condition['timezone']}")
    typer.echo("rules:")
    for text in condition["rules"]:
        typer.echo(f"  {text}")
    typer.echo(f"holidays: {', '.join(condition['holidays']) or 'none'}")
    typer.echo(f"inside the hours: {condition['match']}")
    typer.echo(f"outside the hours and on holidays: {condition['nomatch']}")


@app.command("delete")
def delete(ctx: typer.Context, name: NameArgument) -> None:
    """Delete a time condition.

    Refused while a menu or another time condition still sends calls to it; the
    error names them, so change those first.
    """
    settings = state_of(ctx).settings()

    async def action(db: Database) -> None:
        await TimeConditionService(db=db).delete(name)

    run_with_database(settings, action)
    typer.echo(f"deleted time condition {name}")


@app.command("check")
def check(
    ctx: typer.Context,
    name: NameArgument,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            metavar="ISO8601",
            help="The moment to ask about, e.g. 2026-12-31T10:00 (local time in the"
            " condition's zone) or 2026-12-31T07:00Z; default: now.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Say where the time condition sends a call now, or at --at, and why."""
    settings = state_of(ctx).settings()
    when = None
    if at is not None:
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            raise fail(
                f"--at {at!r} is not an ISO 8601 time; write e.g. 2026-12-31T10:00 or"
                f" 2026-12-31T10:00+03:00"
            ) from None

    async def action(db: Database) -> dict[str, Any]:
        result = await TimeConditionService(db=db).check(name, when)
        return {
            **result.record(name),
            "_shown": result.local_time.strftime("%Y-%m-%d %H:%M %Z (%a)"),
        }

    result = run_with_database(settings, action)
    shown = result.pop("_shown")
    if as_json:
        print_json(result)
        return
    if result["holiday"]:
        why = "a holiday"
    elif result["inside"]:
        why = f"inside the hours ({result['rule']})"
    else:
        why = "outside the hours"
    typer.echo(f"{name} at {shown}: {why} -> {result['destination']}")
