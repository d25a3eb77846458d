"""``ringfort ivr``: auto-attendant menus, and YAML export and import with time conditions."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ringfort.cli.output import EXIT_FAILURE, fail, print_json, print_table
from ringfort.cli.state import run_with_database, state_of
from ringfort.errors import ValidationError
from ringfort.services.database import Database
from ringfort.services.ivr import IvrService
from ringfort.services.ivr_documents import menu_from_document, menu_to_document
from ringfort.services.ivr_yaml import ImportReport, IvrYamlService

DESTINATIONS_HELP = (
    "A destination is extension:NUMBER, ivr:MENU, timecond:NAME or hangup; menus, time"
    " conditions and extensions named must exist."
)

app = typer.Typer(
    help=(
        "Manage auto-attendant (IVR) menus: the prompts a caller hears, the keys they may press"
        " and where each leads, how long to wait and how often to retry. Export and import"
        " menus and time conditions as YAML. " + DESTINATIONS_HELP + " See docs/ivr.md."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)

NameArgument = Annotated[
    str,
    typer.Argument(
        metavar="NAME",
        help="The menu's name: lower case letters, digits, '-' and '_' (e.g. main).",
        show_default=False,
    ),
]
NumberOption = Annotated[
    str | None,
    typer.Option(
        "--number",
        metavar="DIGITS",
        help="An internal number that reaches the menu (not used by an extension or a time"
        " condition).",
        show_default=False,
    ),
]
GreetingOption = Annotated[
    str | None,
    typer.Option(
        "--greeting",
        metavar="PROMPTS",
        help="Prompts played in order, comma-separated (file names under prompts/LANGUAGE/"
        " without .wav), e.g. welcome or company-name,welcome. [default: welcome]",
        show_default=False,
    ),
]
OptionOption = Annotated[
    list[str] | None,
    typer.Option(
        "--option",
        metavar="KEYS=DESTINATION",
        help="What a key leads to, e.g. 1=extension:101 or 2=ivr:sales; repeat for each key."
        " Keys are 1 to 8 of 0-9, * and #.",
        show_default=False,
    ),
]
DirectDialOption = Annotated[
    bool | None,
    typer.Option(
        "--direct-dial/--no-direct-dial",
        help="Whether callers may dial any extension number from the menu. [default: on]",
        show_default=False,
    ),
]
TimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        help="How long to wait for the first key after the greeting (0.5 to 60). [default: 5]",
        show_default=False,
    ),
]
InterdigitOption = Annotated[
    float | None,
    typer.Option(
        "--interdigit-timeout",
        metavar="SECONDS",
        help="How long to wait for each further key of a longer entry (0.5 to 60). [default: 2]",
        show_default=False,
    ),
]
RetriesOption = Annotated[
    int | None,
    typer.Option(
        "--retries",
        metavar="N",
        help="How many times to play the greeting again after no key, and again after a wrong"
        " key, before giving up (0 to 10). [default: 2]",
        show_default=False,
    ),
]
TimeoutDestinationOption = Annotated[
    str | None,
    typer.Option(
        "--timeout-destination",
        metavar="DESTINATION",
        help="Where a caller who presses nothing goes after the retries. [default: hangup]",
        show_default=False,
    ),
]
InvalidDestinationOption = Annotated[
    str | None,
    typer.Option(
        "--invalid-destination",
        metavar="DESTINATION",
        help="Where a caller who keeps pressing wrong keys goes after the retries."
        " [default: hangup]",
        show_default=False,
    ),
]
TimeoutPromptOption = Annotated[
    str | None,
    typer.Option(
        "--timeout-prompt",
        metavar="PROMPTS",
        help="Prompts played when no key came, comma-separated. [default: no-input]",
        show_default=False,
    ),
]
InvalidPromptOption = Annotated[
    str | None,
    typer.Option(
        "--invalid-prompt",
        metavar="PROMPTS",
        help="Prompts played after a wrong key, comma-separated. [default: invalid]",
        show_default=False,
    ),
]
LanguageOption = Annotated[
    str | None,
    typer.Option(
        "--language",
        metavar="CODE",
        help="Language of the prompts (the prompts/CODE/ folder), e.g. en. [default: en]",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def parse_options(values: list[str] | None) -> dict[str, str]:
    """``KEYS=DESTINATION`` values as a mapping of keys to destinations."""
    options: dict[str, str] = {}
    for value in values or []:
        digits, equals, destination = value.partition("=")
        digits, destination = digits.strip(), destination.strip()
        if not equals or not digits or not destination:
            raise fail(f"--option {value!r}: write KEYS=DESTINATION, e.g. --option 1=extension:101")
        if digits in options:
            raise fail(f"--option {digits} is given twice; give each key once")
        options[digits] = destination
    return options


def _fields(**values: object) -> dict[str, object]:
    """The document keys of the options that were given (None = not given)."""
    return {key: value for key, value in values.items() if value is not None}


@app.command("add")
def add(
    ctx: typer.Context,
    name: NameArgument,
    number: NumberOption = None,
    greeting: GreetingOption = None,
    option: OptionOption = None,
    direct_dial: DirectDialOption = None,
    timeout: TimeoutOption = None,
    interdigit_timeout: InterdigitOption = None,
    retries: RetriesOption = None,
    timeout_destination: TimeoutDestinationOption = None,
    invalid_destination: InvalidDestinationOption = None,
    timeout_prompt: TimeoutPromptOption = None,
    invalid_prompt: InvalidPromptOption = None,
    language: LanguageOption = None,
) -> None:
    """Add a menu: what callers hear, the keys they may press and where each leads.

    Options not given take the defaults shown. A destination must exist already.

    \b
    Example:
      ringfort ivr add main --number 700 --option 1=extension:101 \\
          --option 2=ivr:sales --timeout-destination extension:100
    """
    settings = state_of(ctx).settings()
    document = _fields(
        name=name,
        number=number,
        greeting=greeting,
        options=parse_options(option),
        direct_dial=direct_dial,
        timeout=timeout,
        interdigit_timeout=interdigit_timeout,
        timeout_retries=retries,
        invalid_retries=retries,
        timeout_destination=timeout_destination,
        invalid_destination=invalid_destination,
        timeout_prompt=timeout_prompt,
        invalid_prompt=invalid_prompt,
        language=language,
    )

    async def action(db: Database) -> None:
        await IvrService(db=db).add(menu_from_document(document))

    run_with_database(settings, action)
    typer.echo(f"added menu {name}" + (f" on number {number}" if number else ""))


@app.command("set")
def set_(
    ctx: typer.Context,
    name: NameArgument,
    number: NumberOption = None,
    no_number: Annotated[
        bool, typer.Option("--no-number", help="Take the menu's number away.")
    ] = False,
    greeting: GreetingOption = None,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            metavar="KEYS=DESTINATION",
            help="Add a key or change where it leads, e.g. 2=ivr:sales; repeatable. Other keys"
            " stay as they are.",
            show_default=False,
        ),
    ] = None,
    remove_option: Annotated[
        list[str] | None,
        typer.Option(
            "--remove-option",
            metavar="KEYS",
            help="Remove the option of these keys, e.g. 2; repeatable.",
            show_default=False,
        ),
    ] = None,
    direct_dial: DirectDialOption = None,
    timeout: TimeoutOption = None,
    interdigit_timeout: InterdigitOption = None,
    retries: RetriesOption = None,
    timeout_destination: TimeoutDestinationOption = None,
    invalid_destination: InvalidDestinationOption = None,
    timeout_prompt: TimeoutPromptOption = None,
    invalid_prompt: InvalidPromptOption = None,
    language: LanguageOption = None,
) -> None:
    """Change a menu: only what is given changes, the rest stays.

    \b
    Example:
      ringfort ivr set main --option 2=ivr:sales --remove-option 9 --timeout 8
    """
    settings = state_of(ctx).settings()
    if number is not None and no_number:
        raise fail("give either --number or --no-number, not both")
    changes = _fields(
        greeting=greeting,
        direct_dial=direct_dial,
        timeout=timeout,
        interdigit_timeout=interdigit_timeout,
        timeout_retries=retries,
        invalid_retries=retries,
        timeout_destination=timeout_destination,
        invalid_destination=invalid_destination,
        timeout_prompt=timeout_prompt,
        invalid_prompt=invalid_prompt,
        language=language,
    )
    new_options = parse_options(option)
    removed = [digits.strip() for digits in remove_option or []]
    both = sorted(set(new_options) & set(removed))
    if both:
        raise fail(f"key {both[0]} is both set and removed; give one of --option, --remove-option")

    async def action(db: Database) -> None:
        service = IvrService(db=db)
        document = menu_to_document(await service.get(name))
        document.update(changes)
        if number is not None:
            document["number"] = number
        if no_number:
            document["number"] = None
        options = dict(document["options"])
        for digits in removed:
            if digits not in options:
                keys = ", ".join(options) or "none"
                raise ValidationError(f"menu {name} has no option {digits} (its keys: {keys})")
            del options[digits]
        options.update(new_options)
        document["options"] = options
        await service.update(menu_from_document(document))

    run_with_database(settings, action)
    typer.echo(f"changed menu {name}")


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List every menu with its number and keys."""
    settings = state_of(ctx).settings()

    async def action(db: Database) -> list[dict[str, Any]]:
        return [menu_to_document(menu) for menu in await IvrService(db=db).list()]

    menus = run_with_database(settings, action)
    if as_json:
        print_json(menus)
    elif not menus:
        typer.echo("no menus; add one with: ringfort ivr add NAME --number DIGITS --option 1=...")
    else:
        print_table(
            ("NAME", "NUMBER", "LANGUAGE", "DIRECT DIAL", "OPTIONS"),
            [
                (
                    menu["name"],
                    menu["number"] or "",
                    menu["language"],
                    "yes" if menu["direct_dial"] else "no",
                    " ".join(f"{keys}={target}" for keys, target in menu["options"].items()),
                )
                for menu in menus
            ],
        )


@app.command("show")
def show(ctx: typer.Context, name: NameArgument, as_json: JsonOption = False) -> None:
    """Show everything about one menu."""
    settings = state_of(ctx).settings()

    async def action(db: Database) -> dict[str, Any]:
        return menu_to_document(await IvrService(db=db).get(name))

    menu = run_with_database(settings, action)
    if as_json:
        print_json(menu)
        return
    typer.echo(f"name: {menu['name']}")
    typer.echo(f"number: {menu['number'] or '-'}")
    typer.echo(f"language: {menu['language']}")
    typer.echo(f"greeting: {', '.join(menu['greeting'])}")
    typer.echo("options:" if menu["options"] else "options: none")
    for keys, target in menu["options"].items():
        typer.echo(f"  {keys} -> {target}")
    typer.echo(f"direct dial: {'yes' if menu['direct_dial'] else 'no'}")
    typer.echo(
        f"waits: {menu['timeout']} s for the first key, {menu['interdigit_timeout']} s between keys"
    )
    typer.echo(
        f"no key: {', '.join(menu['timeout_prompt']) or '-'}; {menu['timeout_retries']}"
        f" retries, then {menu['timeout_destination']}"
    )
    typer.echo(
        f"wrong key: {', '.join(menu['invalid_prompt']) or '-'}; {menu['invalid_retries']}"
        f" retries, then {menu['invalid_destination']}"
    )


@app.command("delete")
def delete(ctx: typer.Context, name: NameArgument) -> None:
    """Delete a menu and its options.

    Refused while another menu or a time condition still sends calls to it; the
    error names them, so change those first.
    """
    settings = state_of(ctx).settings()

    async def action(db: Database) -> None:
        await IvrService(db=db).delete(name)

    run_with_database(settings, action)
    typer.echo(f"deleted menu {name}")


@app.command("export")
def export(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[NAME]...", help="Menus to export (default: all).", show_default=False
        ),
    ] = None,
    to: Annotated[
        Path | None,
        typer.Option(
            "--to",
            metavar="FILE",
            help="Write to FILE instead of standard output.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Write menus and every time condition as YAML, the format `ringfort ivr import` reads."""
    settings = state_of(ctx).settings()

    async def action(db: Database) -> str:
        return await IvrYamlService(db=db).export_yaml(names or ())

    text = run_with_database(settings, action)
    if to is None:
        typer.echo(text, nl=False)
        return
    try:
        to.write_text(text, encoding="utf-8")
    except OSError as error:
        raise fail(f"cannot write {to}: {error.strerror}", code=EXIT_FAILURE) from None
    typer.echo(f"wrote {to}")


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[
        str,
        typer.Argument(
            metavar="FILE",
            help="A YAML file as `ringfort ivr export` writes it; - reads standard input.",
            show_default=False,
        ),
    ],
) -> None:
    """Create or update the menus and time conditions of a YAML file, by name.

    Each item is taken whole or not at all. Items with a problem are listed with
    their line and what is wrong, and the others are still imported; the exit
    status is then 1, so fix those items and import the file again.
    """
    settings = state_of(ctx).settings()
    if file == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
            raise fail(f"cannot read {file}: {reason}") from None

    async def action(db: Database) -> ImportReport:
        return await IvrYamlService(db=db).import_yaml(text)

    report = run_with_database(settings, action)
    for label in report.created:
        typer.echo(f"created {label}")
    for label in report.updated:
        typer.echo(f"updated {label}")
    for problem in report.problems:
        typer.echo(f"error: {file}: {problem}", err=True)
    if not report.ok:
        imported = len(report.created) + len(report.updated)
        typer.echo(
            f"{len(report.problems)} item(s) not imported, {imported} imported; fix the items"
            f" above and import the file again",
            err=True,
        )
        raise typer.Exit(EXIT_FAILURE)
    if not report.created and not report.updated:
        typer.echo("nothing to import")
