"""YAML export and import of menus and time conditions.

One document with two lists, ``menus`` and ``time_conditions``, in the keys of
:mod:`ringfort.services.ivr_documents`. Import takes each item whole or not at
all: an item that is wrong (or refers to one that is) is reported with its
position, its line and why, and every other item is created or updated by
name, all in one transaction. Items may refer to each other in any order, and
to each other in a circle (a sales menu whose 0 goes back to the main menu).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ringfort.apps.ivr.config import IvrMenu
from ringfort.apps.timecond import TimeCondition
from ringfort.db.models import IvrMenu as IvrMenuRow
from ringfort.db.models import TimeCondition as TimeConditionRow
from ringfort.db.repositories import (
    PLAN_MENU,
    PLAN_TIME_CONDITION,
    IvrMenuRepository,
    PlanEntry,
    TimeConditionRepository,
)
from ringfort.errors import ConflictError, NotFoundError, ValidationError
from ringfort.services.database import Database
from ringfort.services.ivr import IvrService, check_menu, validate_menu, write_menu
from ringfort.services.ivr_documents import (
    menu_from_document,
    menu_to_document,
    time_condition_from_document,
    time_condition_to_document,
)
from ringfort.services.numberplan import NumberPlan
from ringfort.services.timecond import (
    TimeConditionService,
    check_time_condition,
    validate_time_condition,
    write_time_condition,
)

__all__ = [
    "EXPORT_HEADER",
    "MENUS",
    "TIME_CONDITIONS",
    "ImportProblem",
    "ImportReport",
    "IvrYamlService",
]

MENUS = "menus"
TIME_CONDITIONS = "time_conditions"
_SECTIONS = (MENUS, TIME_CONDITIONS)
_NULL_TAG = "tag:yaml.org,2002:null"
_KIND = {MENUS: PLAN_MENU, TIME_CONDITIONS: PLAN_TIME_CONDITION}
_WHAT = {MENUS: "menu", TIME_CONDITIONS: "time condition"}


EXPORT_HEADER = (
    "# Ringfort menus and time conditions. Edit, then load with: ringfort ivr import FILE\n"
    "# Destinations: extension:NUMBER, ivr:MENU, timecond:NAME or hangup.\n"
)


class _Dumper(yaml.SafeDumper):
    """Writes lists of plain values on one line (``greeting: [welcome]``), the rest as blocks."""


def _represent_list(dumper: yaml.SafeDumper, values: list[Any]) -> yaml.Node:
    flat = all(isinstance(value, str | int | float | dt.date) for value in values)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", values, flow_style=flat)


_Dumper.add_representer(list, _represent_list)


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """An item that was not imported, and why."""

    section: str
    """``menus`` or ``time_conditions``."""
    position: int
    """Its place in that list, from 1."""
    line: int
    """The line of the file the problem is on (the item's, or the wrong key's), from 1."""
    name: str
    """The item's name, or empty when it has none."""
    message: str

    def __str__(self) -> str:
        name = f" ({self.name})" if self.name else ""
        return f"line {self.line}: {self.section} item {self.position}{name}: {self.message}"


@dataclass(slots=True)
class ImportReport:
    """What an import did: items created and updated (``menu main``), and items refused."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every item was imported."""
        return not self.problems


class _KeyTwiceError(ValidationError):
    """A mapping of the file has the same key twice (YAML would silently keep the last)."""

    def __init__(self, key: str, line: int) -> None:
        super().__init__(f"{key} is given twice; keep one", field=key)
        self.line = line


@dataclass(slots=True)
class _Item:
    """One item of the file on its way in."""

    section: str
    position: int
    node: yaml.Node
    name: str
    config: IvrMenu | TimeCondition | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (_KIND[self.section], self.name)

    def problem(self, message: str, error_field: str | None = None) -> ImportProblem:
        line = _line_of(self.node, error_field) if error_field else self.node.start_mark.line + 1
        return ImportProblem(self.section, self.position, line, self.name, message)

    def refused(self, error: ValidationError) -> ImportProblem:
        if isinstance(error, _KeyTwiceError):
            return ImportProblem(self.section, self.position, error.line, self.name, str(error))
        return self.problem(str(error), error.field)


class IvrYamlService:
    """Writes menus and time conditions as YAML and reads them back."""

    def __init__(self, *, db: Database) -> None:
        self._db = db

    async def export_yaml(self, names: Sequence[str] = ()) -> str:
        """The menus called ``names`` (all when empty) and every time condition, as YAML.

        NotFoundError naming any of ``names`` that is not a menu.
        """
        menus = await IvrService(db=self._db).list()
        if names:
            missing = sorted(set(names) - {menu.name for menu in menus})
            if missing:
                raise NotFoundError(
                    f"no menu called {', '.join(missing)}; check the names against the list"
                    f" of menus"
                )
            menus = [menu for menu in menus if menu.name in names]
        conditions = await TimeConditionService(db=self._db).list()
        document = {
            MENUS: [_for_yaml(menu_to_document(menu)) for menu in menus],
            TIME_CONDITIONS: [
                _for_yaml(time_condition_to_document(condition)) for condition in conditions
            ],
        }
        text = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
        return EXPORT_HEADER + text

    async def import_yaml(self, text: str) -> ImportReport:
        """Create or update every good item of ``text`` by name; report the others.

        ValidationError (with the line) when the text is not YAML at all, or not
        a mapping of ``menus`` and ``time_conditions``: then nothing is imported.
        """
        report = ImportReport()
        items = _read_items(text, report)
        async with self._db.session() as session:
            plan = await NumberPlan.load(session)
            stored = plan.copy()
            for item in items:
                if item.config is not None:
                    plan.put(PlanEntry(_KIND[item.section], item.name, item.config.number))
            # An item that fails may leave another pointing at nothing, or give a
            # number back to its stored owner: check again until nothing changes.
            changed = True
            while changed:
                changed = False
                for item in items:
                    if item.config is None:
                        continue
                    try:
                        if isinstance(item.config, IvrMenu):
                            check_menu(plan, item.config)
                        else:
                            check_time_condition(plan, item.config)
                    except (ValidationError, ConflictError) as error:
                        error_field = error.field if isinstance(error, ValidationError) else None
                        message = _refused_target(item, error_field, items) or str(error)
                        report.problems.append(item.problem(message, error_field))
                        item.config = None
                        previous = stored.get(*item.key)
                        if previous is None:
                            plan.drop(*item.key)
                        else:
                            plan.put(previous)
                        changed = True
            good = [item for item in items if item.config is not None]
            await _release_numbers(session, good)
            for item in good:
                assert item.config is not None
                if isinstance(item.config, IvrMenu):
                    created = await write_menu(session, item.config)
                else:
                    created = await write_time_condition(session, item.config)
                label = f"{_WHAT[item.section]} {item.name}"
                (report.created if created else report.updated).append(label)
            try:
                await session.commit()
            except IntegrityError as exc:
                raise ConflictError(
                    "menus or time conditions were changed while importing; nothing was"
                    " imported, run the import again"
                ) from exc
        report.problems.sort(key=lambda problem: (problem.line, problem.section))
        return report


def _refused_target(item: _Item, error_field: str | None, items: list[_Item]) -> str | None:
    """Say so when ``item`` fails for leading to an item of the file that was refused itself."""
    assert item.config is not None
    destination = dict(item.config.destinations()).get(error_field or "")
    if destination is None:
        return None
    for other in items:
        if (
            other.config is None
            and other.name == destination.target
            and _KIND[other.section] == destination.kind.value
        ):
            line = other.node.start_mark.line + 1
            return (
                f"{error_field} is {destination}, but {_WHAT[other.section]} {other.name}"
                f" (line {line}) is not imported either; fix it first"
            )
    return None


async def _release_numbers(session: AsyncSession, items: list[_Item]) -> None:
    """Clear the stored numbers that items are about to change, so two can swap numbers.

    Rows are updated one by one at the flush, and UNIQUE(number) is checked on
    each row, so a number must be let go before another row takes it.
    """
    menus = IvrMenuRepository(session=session)
    conditions = TimeConditionRepository(session=session)
    released = False
    for item in items:
        assert item.config is not None
        row: IvrMenuRow | TimeConditionRow | None
        if item.section == MENUS:
            row = await menus.get(item.name)
        else:
            row = await conditions.get(item.name)
        if row is not None and row.number is not None and row.number != item.config.number:
            row.number = None
            released = True
    if released:
        await session.flush()


def _for_yaml(document: dict[str, Any]) -> dict[str, Any]:
    """Leave out an empty number; holidays as dates, so YAML writes them unquoted."""
    result = {key: value for key, value in document.items() if value is not None}
    if "holidays" in result:
        result["holidays"] = [dt.date.fromisoformat(day) for day in result["holidays"]]
    return result


def _read_items(text: str, report: ImportReport) -> list[_Item]:
    """Every item of the file, parsed and validated on its own; failures go in ``report``."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ValidationError(f"not valid YAML{where}: {error.problem or error}") from None
    except yaml.YAMLError as error:
        raise ValidationError(f"not valid YAML: {error}") from None
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == _NULL_TAG):
        return []
    if not isinstance(root, yaml.MappingNode):
        raise ValidationError(
            f"line {root.start_mark.line + 1}: the file must be a mapping with the lists"
            f" {MENUS} and {TIME_CONDITIONS}"
        )
    items: list[_Item] = []
    seen_sections: set[str] = set()
    for key_node, value_node in root.value:
        section = key_node.value if isinstance(key_node, yaml.ScalarNode) else ""
        line = key_node.start_mark.line + 1
        if section not in _SECTIONS:
            raise ValidationError(
                f"line {line}: unknown section {section!r}; use {MENUS} and {TIME_CONDITIONS}"
            )
        if section in seen_sections:
            raise ValidationError(f"line {line}: {section} appears twice; keep one list")
        seen_sections.add(section)
        if isinstance(value_node, yaml.ScalarNode) and value_node.tag == _NULL_TAG:
            continue
        if not isinstance(value_node, yaml.SequenceNode):
            raise ValidationError(f"line {line}: {section} must be a list of items (- name: ...)")
        names: dict[str, int] = {}
        for position, node in enumerate(value_node.value, start=1):
            item = _Item(section, position, node, _name_of(node))
            items.append(item)
            try:
                item.config = _parse(section, _plain(node))
            except ValidationError as error:
                report.problems.append(item.refused(error))
                continue
            first = names.setdefault(item.name, item.node.start_mark.line + 1)
            if first != item.node.start_mark.line + 1:
                item.config = None
                report.problems.append(
                    item.problem(f"{_WHAT[section]} {item.name} is already given at line {first}")
                )
    return items


def _parse(section: str, document: object) -> IvrMenu | TimeCondition:
    if not isinstance(document, dict):
        raise ValidationError(f"each item of {section} must be a mapping (name: ..., ...)")
    if section == MENUS:
        return validate_menu(menu_from_document(document))
    return validate_time_condition(time_condition_from_document(document))


def _plain(node: yaml.Node) -> Any:
    """The node as dicts, lists, strings and None: every scalar is kept as written.

    YAML 1.1 would read ``0700`` as 448, ``no`` as false and ``1:30`` as 90; the
    document reader converts each value by what its key means instead.
    """
    if isinstance(node, yaml.ScalarNode):
        return None if node.tag == _NULL_TAG else node.value
    if isinstance(node, yaml.SequenceNode):
        return [_plain(child) for child in node.value]
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _plain(key_node)
            if not isinstance(key, str):
                raise ValidationError(
                    f"line {key_node.start_mark.line + 1}: keys must be plain text"
                )
            if key in result:
                raise _KeyTwiceError(key, key_node.start_mark.line + 1)
            result[key] = _plain(value_node)
        return result
    raise ValidationError("unsupported YAML node")


def _name_of(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == "name" and isinstance(value_node, yaml.ScalarNode):
                return str(value_node.value)
    return ""


def _line_of(node: yaml.Node, path: str) -> int:
    """The line of the key ``path`` (``timeout``, ``options.1``) in ``node``, else the item's."""
    line = node.start_mark.line + 1
    found: yaml.Node | None = node
    for part in path.split("."):
        if not isinstance(found, yaml.MappingNode):
            break
        for key_node, value_node in found.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == part:
                line, found = key_node.start_mark.line + 1, value_node
                break
        else:
            break
    return line
