"""``ringfort queue`` and ``ringfort agent``: queues, their agents, logins and pauses."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ringfort.cli.output import fail, print_json, print_table, to_record
from ringfort.cli.state import run_with_database, state_of
from ringfort.services.database import Database
from ringfort.services.queue_directory import QueueDirectoryService
from ringfort.services.queues import (
    JOIN_RULES,
    LEAVE_RULES,
    STRATEGIES,
    AgentService,
    QueueService,
)

app = typer.Typer(
    help=(
        "Call-centre queues: callers wait with music while agents are rung by the queue's"
        " strategy. Agents log in from any phone with *45<queue number> and their PIN."
        " Changes reach a running server within a second. See docs/queues.md."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)
agent_app = typer.Typer(
    help="Agents: a number, a name and the PIN they log in with from any phone.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _changes(**options: Any) -> dict[str, Any]:
    """The options given (not None), as queue settings."""
    return {key: value for key, value in options.items() if value is not None}


def _config_options(
    number: str | None,
    strategy: str | None,
    ring_timeout: float | None,
    retry_delay: float | None,
    wrapup: float | None,
    max_wait: float | None,
    max_length: int | None,
    overflow: str | None,
    join_empty: str | None,
    leave_empty: str | None,
    announce_position: bool | None,
    announce_first: float | None,
    announce_every: float | None,
    periodic_prompt: str | None,
    periodic_every: float | None,
    exit_key: str | None,
    exit_destination: str | None,
    record: bool | None,
    autopause: int | None,
    service_level: int | None,
) -> dict[str, Any]:
    return _changes(
        number=number,
        strategy=strategy,
        ring_timeout=ring_timeout,
        retry_delay=retry_delay,
        wrapup=wrapup,
        max_wait=max_wait,
        max_length=max_length,
        overflow=overflow,
        join_empty=join_empty,
        leave_empty=leave_empty,
        announce_position=announce_position,
        announce_first=announce_first,
        announce_every=announce_every,
        periodic_prompt=periodic_prompt,
        periodic_every=periodic_every,
        exit_key=exit_key,
        exit_destination=exit_destination,
        record=record,
        autopause=autopause,
        service_level=service_level,
    )


Number = Annotated[
    str | None, typer.Option("--number", help="The number callers dial.", show_default=False)
]
StrategyOpt = Annotated[
    str | None,
    typer.Option(
        "--strategy",
        help=f"How agents are rung: {', '.join(STRATEGIES)}. [default: ringall]",
        show_default=False,
    ),
]
RingTimeout = Annotated[
    float | None,
    typer.Option("--ring-timeout", help="Seconds one attempt rings. [default: 15]"),
]
RetryDelay = Annotated[
    float | None,
    typer.Option("--retry-delay", help="Seconds between attempts. [default: 5]"),
]
Wrapup = Annotated[
    float | None,
    typer.Option("--wrapup", help="Seconds an agent rests after a call. [default: 0]"),
]
MaxWait = Annotated[
    float | None,
    typer.Option("--max-wait", help="Seconds before a caller goes to --overflow; 0: no limit."),
]
MaxLength = Annotated[
    int | None,
    typer.Option("--max-length", help="Callers the queue holds; 0: no limit. [default: 0]"),
]
Overflow = Annotated[
    str | None,
    typer.Option(
        "--overflow",
        help="Where callers go who wait too long, find the queue full or empty, e.g."
        " extension:101, ivr:main, hangup. [default: hangup]",
    ),
]
JoinEmpty = Annotated[
    str | None,
    typer.Option(
        "--join-empty",
        help=f"Who must be logged in for a caller to join: {', '.join(JOIN_RULES)}"
        " (loggedin: paused or not; available: not paused). [default: always]",
    ),
]
LeaveEmpty = Annotated[
    str | None,
    typer.Option(
        "--leave-empty",
        help=f"When waiting callers are sent to --overflow: {', '.join(LEAVE_RULES)}"
        " (loggedin: nobody logged in; available: nobody unpaused). [default: never]",
    ),
]
AnnouncePosition = Annotated[
    bool | None,
    typer.Option(
        "--announce-position/--no-announce-position",
        help="Tell callers their position and expected wait. [default: no]",
        show_default=False,
    ),
]
AnnounceFirst = Annotated[
    float | None,
    typer.Option("--announce-first", help="Seconds before the first announcement. [15]"),
]
AnnounceEvery = Annotated[
    float | None,
    typer.Option("--announce-every", help="Seconds between announcements; 0: once. [60]"),
]
PeriodicPrompt = Annotated[
    str | None, typer.Option("--periodic-prompt", help="A prompt played to waiting callers.")
]
PeriodicEvery = Annotated[
    float | None, typer.Option("--periodic-every", help="Seconds between periodic prompts.")
]
ExitKey = Annotated[
    str | None, typer.Option("--exit-key", help="A key that takes a caller to --exit-destination.")
]
ExitDestination = Annotated[
    str | None, typer.Option("--exit-destination", help="Where --exit-key takes the caller.")
]
Record = Annotated[
    bool | None,
    typer.Option(
        "--record/--no-record", help="Record every answered call. [default: no]", show_default=False
    ),
]
Autopause = Annotated[
    int | None,
    typer.Option("--autopause", help="Pause an agent after this many missed rings; 0: never."),
]
ServiceLevel = Annotated[
    int | None,
    typer.Option("--service-level", help="Seconds within which an answer counts as in time. [20]"),
]


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The queue's name (a-z, 0-9, - and _).")],
    number: Number = None,
    strategy: StrategyOpt = None,
    ring_timeout: RingTimeout = None,
    retry_delay: RetryDelay = None,
    wrapup: Wrapup = None,
    max_wait: MaxWait = None,
    max_length: MaxLength = None,
    overflow: Overflow = None,
    join_empty: JoinEmpty = None,
    leave_empty: LeaveEmpty = None,
    announce_position: AnnouncePosition = None,
    announce_first: AnnounceFirst = None,
    announce_every: AnnounceEvery = None,
    periodic_prompt: PeriodicPrompt = None,
    periodic_every: PeriodicEvery = None,
    exit_key: ExitKey = None,
    exit_destination: ExitDestination = None,
    record: Record = None,
    autopause: Autopause = None,
    service_level: ServiceLevel = None,
) -> None:
    """Add a queue.

    \b
    Example:
      ringfort queue add sales --number 500 --strategy leastrecent --max-wait 300 \\
          --overflow ivr:main --announce-position
    """
    options = _config_options(
        number, strategy, ring_timeout, retry_delay, wrapup, max_wait, max_length, overflow,
        join_empty, leave_empty, announce_position, announce_first, announce_every,
        periodic_prompt, periodic_every, exit_key, exit_destination, record, autopause,
        service_level,
    )  # fmt: skip
    settings = state_of(ctx).settings()
    config = run_with_database(settings, lambda db: QueueService(db=db).add(name, **options))
    typer.echo(f"queue {name} added" + (f" on number {config.number}" if config.number else ""))


@app.command("update")
def update(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The queue to change.")],
    number: Number = None,
    strategy: StrategyOpt = None,
    ring_timeout: RingTimeout = None,
    retry_delay: RetryDelay = None,
    wrapup: Wrapup = None,
    max_wait: MaxWait = None,
    max_length: MaxLength = None,
    overflow: Overflow = None,
    join_empty: JoinEmpty = None,
    leave_empty: LeaveEmpty = None,
    announce_position: AnnouncePosition = None,
    announce_first: AnnounceFirst = None,
    announce_every: AnnounceEvery = None,
    periodic_prompt: PeriodicPrompt = None,
    periodic_every: PeriodicEvery = None,
    exit_key: ExitKey = None,
    exit_destination: ExitDestination = None,
    record: Record = None,
    autopause: Autopause = None,
    service_level: ServiceLevel = None,
) -> None:
    """Change some settings of a queue (the others stay)."""
    options = _config_options(
        number, strategy, ring_timeout, retry_delay, wrapup, max_wait, max_length, overflow,
        join_empty, leave_empty, announce_position, announce_first, announce_every,
        periodic_prompt, periodic_every, exit_key, exit_destination, record, autopause,
        service_level,
    )  # fmt: skip
    if not options:
        raise fail("nothing to change: give at least one option (see --help)")
    settings = state_of(ctx).settings()
    run_with_database(settings, lambda db: QueueService(db=db).update(name, **options))
    typer.echo(f"queue {name} updated")


def _config_record(config: Any) -> dict[str, Any]:
    record = to_record(config)
    for key in ("overflow", "exit_destination", "strategy", "join_empty", "leave_empty"):
        value = getattr(config, key)
        record[key] = None if value is None else str(value)
    return record


@app.command("list")
def list_queues(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the queues."""
    settings = state_of(ctx).settings()
    queues = run_with_database(settings, lambda db: QueueService(db=db).list())
    if as_json:
        print_json([_config_record(q) for q in queues])
        return
    print_table(
        ["NAME", "NUMBER", "STRATEGY", "RING", "WRAPUP", "MAX WAIT", "OVERFLOW"],
        [
            [q.name, q.number, q.strategy, q.ring_timeout, q.wrapup, q.max_wait, q.overflow]
            for q in queues
        ],
    )


@app.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The queue.")],
    as_json: JsonOption = False,
) -> None:
    """Show a queue's settings and its agents (penalty, where logged in, paused)."""
    settings = state_of(ctx).settings()

    async def action(db: Database) -> tuple[Any, list[Any]]:
        service = QueueService(db=db)
        return await service.get(name), await service.members(name)

    config, members = run_with_database(settings, action)
    if as_json:
        print_json({**_config_record(config), "members": [to_record(m) for m in members]})
        return
    for key, value in _config_record(config).items():
        typer.echo(f"{key:18} {'' if value is None else value}")
    typer.echo("")
    print_table(
        ["AGENT", "NAME", "PENALTY", "PHONE", "PAUSED"],
        [
            [m.agent, m.name, m.penalty, m.phone or "-", m.pause_reason if m.paused else "-"]
            for m in members
        ],
    )


@app.command("delete")
def delete(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The queue.")]) -> None:
    """Delete a queue; refused while a menu or time condition sends calls to it."""
    settings = state_of(ctx).settings()
    run_with_database(settings, lambda db: QueueService(db=db).delete(name))
    typer.echo(f"queue {name} deleted")


AgentOpt = Annotated[str, typer.Option("--agent", help="The agent's number.")]


@app.command("add-agent")
def add_agent(
    ctx: typer.Context,
    queue: Annotated[str, typer.Argument(help="The queue.")],
    agent: AgentOpt,
    phone: Annotated[str, typer.Option("--phone", help="The extension the agent takes calls at.")],
    penalty: Annotated[
        int | None, typer.Option("--penalty", help="Lower rings first. [default: 0]")
    ] = None,
) -> None:
    """Log an agent in to a queue at a phone (as a supervisor: ADDMEMBER in the queue log)."""
    settings = state_of(ctx).settings()

    async def action(db: Database) -> None:
        if penalty is not None:
            await QueueService(db=db).set_penalty(queue, agent, penalty)
        await QueueDirectoryService(db=db).log_in(queue, agent, phone, by_agent=False)

    run_with_database(settings, action)
    typer.echo(f"agent {agent} logged in to {queue} at {phone}")


@app.command("remove-agent")
def remove_agent(
    ctx: typer.Context, queue: Annotated[str, typer.Argument(help="The queue.")], agent: AgentOpt
) -> None:
    """Log an agent out of a queue (REMOVEMEMBER in the queue log)."""
    settings = state_of(ctx).settings()
    done = run_with_database(
        settings, lambda db: QueueDirectoryService(db=db).log_out(queue, agent, by_agent=False)
    )
    typer.echo(
        f"agent {agent} logged out of {queue}" if done else f"agent {agent} was not logged in"
    )


@app.command("penalty")
def penalty_command(
    ctx: typer.Context,
    queue: Annotated[str, typer.Argument(help="The queue.")],
    agent: AgentOpt,
    penalty: Annotated[int, typer.Option("--penalty", help="Lower rings first.")],
) -> None:
    """Set an agent's penalty in a queue (kept across logins)."""
    settings = state_of(ctx).settings()
    run_with_database(settings, lambda db: QueueService(db=db).set_penalty(queue, agent, penalty))
    typer.echo(f"agent {agent} has penalty {penalty} in {queue}")


@app.command("pause")
def pause(
    ctx: typer.Context,
    agent: AgentOpt,
    queue: Annotated[
        str | None, typer.Argument(help="The queue; none: every queue the agent is in.")
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (shown in reports).")] = "supervisor",
) -> None:
    """Pause an agent: no queue calls ring them until unpaused."""
    settings = state_of(ctx).settings()
    changed = run_with_database(
        settings, lambda db: QueueDirectoryService(db=db).pause(queue, agent, reason)
    )
    typer.echo(f"agent {agent} paused in {', '.join(m.queue for m in changed) or 'no new queue'}")


@app.command("unpause")
def unpause(
    ctx: typer.Context,
    agent: AgentOpt,
    queue: Annotated[
        str | None, typer.Argument(help="The queue; none: every queue the agent is in.")
    ] = None,
) -> None:
    """Unpause an agent."""
    settings = state_of(ctx).settings()
    changed = run_with_database(
        settings, lambda db: QueueDirectoryService(db=db).unpause(queue, agent)
    )
    typer.echo(
        f"agent {agent} unpaused in {', '.join(m.queue for m in changed) or 'no paused queue'}"
    )


# -- agents ---------------------------------------------------------------------------------------


def _pin(pin: str | None) -> str:
    if pin is not None:
        return pin
    entered: str = typer.prompt("PIN (digits)", hide_input=True, confirmation_prompt=True)
    return entered


@agent_app.command("add")
def agent_add(
    ctx: typer.Context,
    number: Annotated[str, typer.Option("--number", help="The agent's number (digits).")],
    name: Annotated[str, typer.Option("--name", help="The agent's name.")],
    pin: Annotated[
        str | None,
        typer.Option("--pin", help="4-16 digits, unique; asked for (hidden) if not given."),
    ] = None,
    wrapup: Annotated[
        float | None,
        typer.Option("--wrapup", help="The agent's own wrap-up seconds, in every queue."),
    ] = None,
) -> None:
    """Add an agent."""
    settings = state_of(ctx).settings()
    secret = _pin(pin)
    run_with_database(
        settings, lambda db: AgentService(db=db).add(number, name, secret, wrapup=wrapup)
    )
    typer.echo(f"agent {number} ({name}) added")


@agent_app.command("list")
def agent_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the agents (never their PINs)."""
    settings = state_of(ctx).settings()
    agents = run_with_database(settings, lambda db: AgentService(db=db).list())
    if as_json:
        print_json([to_record(a) for a in agents])
        return
    print_table(["NUMBER", "NAME", "WRAPUP"], [[a.number, a.name, a.wrapup] for a in agents])


@agent_app.command("set-pin")
def agent_set_pin(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="The agent's number.")],
    pin: Annotated[str | None, typer.Option("--pin", help="Asked for if not given.")] = None,
) -> None:
    """Change an agent's PIN."""
    settings = state_of(ctx).settings()
    secret = _pin(pin)
    run_with_database(settings, lambda db: AgentService(db=db).update(number, pin=secret))
    typer.echo(f"PIN of agent {number} changed")


@agent_app.command("delete")
def agent_delete(
    ctx: typer.Context, number: Annotated[str, typer.Argument(help="The agent's number.")]
) -> None:
    """Delete an agent (and their places in queues)."""
    settings = state_of(ctx).settings()
    run_with_database(settings, lambda db: AgentService(db=db).delete(number))
    typer.echo(f"agent {number} deleted")
