"""How often an EventBridge/Glue cron expression fires in a month."""

from __future__ import annotations

from tools.cost.prices import CostError

_DAY_NAMES = {name: index for index, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}


def _count_values(field_text: str, low: int, high: int, names: dict[str, int] | None = None) -> int:
    """How many values a cron field selects ('*', '?', lists, ranges, steps)."""
    if field_text in ("*", "?"):
        return high - low + 1
    selected: set[int] = set()
    for part in field_text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base in ("*", "?"):
            start, end = low, high
        elif "-" in base:
            first, last = base.split("-", 1)
            start, end = _cron_number(first, names), _cron_number(last, names)
        else:
            start = _cron_number(base, names)
            end = high if step_text else start
        selected.update(range(start, end + 1, step))
    return len(selected)


def _cron_number(text: str, names: dict[str, int] | None) -> int:
    if names and text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise CostError(f"cannot read cron value '{text}' (only numbers, lists, ranges, steps and day names)")
    return int(text)


def runs_per_month(schedule: str, days_per_month: float) -> float:
    """Runs a month of an EventBridge/Glue `cron(min hour dom month dow year)` expression, approximately."""
    fields = schedule.removeprefix("cron(").removesuffix(")").split()
    if len(fields) != 6:
        raise CostError(f"'{schedule}' is not a six-field cron expression")
    minutes, hours, day_of_month, month, day_of_week, _year = fields
    per_day = _count_values(minutes, 0, 59) * _count_values(hours, 0, 23)
    if day_of_month not in ("*", "?"):
        days = float(_count_values(day_of_month, 1, 31))
    elif day_of_week not in ("*", "?"):
        days = days_per_month * _count_values(day_of_week, 1, 7, _DAY_NAMES) / 7
    else:
        days = days_per_month
    months = _count_values(month, 1, 12) / 12
    return per_day * days * months
