"""jinja2's filters as the sandbox runs them: each wrapped with the clock, its estimate
(:mod:`builder.templates.sandbox_calls`, for the filters a parameter can make grow)
before it runs and a check of its result after; and ``sum``, which Python would run in
one uninterruptible call, replaced by one that adds an item at a time.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from jinja2.filters import make_attrgetter
from jinja2.runtime import Context
from jinja2.utils import pass_context

from builder.templates.sandbox_calls import FILTERS, Arguments, Estimate


class Hooks(Protocol):
    """What a guarded filter asks of the sandbox."""

    def tick(self) -> None: ...
    def estimated(self, estimate: Estimate, arguments: Arguments, what: str) -> None: ...
    def made(self, value: Any, what: str) -> None: ...


def guarded_filter(hooks: Hooks, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """Filter ``name`` with the clock, its estimate (if it has one) and a check of its
    result around it. The wrapper takes the context, which also keeps jinja2 from
    running the filter on constants at compile time, outside any render's limits."""
    pass_arg = getattr(function, "jinja_pass_arg", None)
    estimate = FILTERS.get(name)
    signature = _value_signature(function) if estimate is not None else None
    what = f"the result of the {name} filter"

    @functools.wraps(function)
    def guarded(context: Context, *args: Any, **kwargs: Any) -> Any:
        hooks.tick()
        if estimate is not None and signature is not None:
            args, kwargs = _estimated(hooks, estimate, signature, (args, kwargs), what)
        result = function(*_passed(pass_arg, context), *args, **kwargs)
        hooks.made(result, what)
        return result

    return pass_context(guarded)


def _estimated(
    hooks: Hooks,
    estimate: Estimate,
    signature: inspect.Signature,
    call: tuple[tuple[Any, ...], dict[str, Any]],
    what: str,
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The call's arguments, estimated (an iterator among them read into a list)."""
    try:
        bound = signature.bind(*call[0], **call[1])
    except TypeError:  # the filter itself says what is wrong with its arguments
        return call
    hooks.estimated(estimate, bound.arguments, what)
    return bound.args, bound.kwargs


def _value_signature(function: Callable[..., Any]) -> inspect.Signature:
    """``function``'s signature from the value on, without the context, evaluation
    context or environment it asks for first. (jinja2's filters with an async variant
    are wrapped: the wrapper may ask for the evaluation context when the function it
    wraps, whose signature it shows, does not.)"""
    inner = inspect.unwrap(function)
    signature = inspect.signature(inner)
    parameters = list(signature.parameters.values())
    if getattr(inner, "jinja_pass_arg", None) is not None:
        parameters = parameters[1:]
    return signature.replace(parameters=parameters)


def _passed(pass_arg: Any, context: Context) -> tuple[Any, ...]:
    """What a filter that asks for the context, evaluation context or environment gets."""
    name = getattr(pass_arg, "name", None)
    if name == "context":
        return (context,)
    if name == "eval_context":
        return (context.eval_ctx,)
    if name == "environment":
        return (context.environment,)
    return ()


@pass_context
def bounded_sum(
    context: Context, iterable: Iterable[Any], attribute: str | int | None = None, start: Any = 0
) -> Any:
    """jinja2's ``sum`` filter, adding lists, tuples and the like one at a time through
    the sandbox's ``+``: Python's :func:`sum` would add them all in one call that holds
    every thread for as long as the quadratic copying takes."""
    environment = context.environment
    if attribute is not None:
        iterable = map(make_attrgetter(environment, attribute), iterable)
    items = list(iterable)
    if isinstance(start, str):
        raise TypeError("sum() can't sum strings [use ''.join(seq) instead]")
    if all(isinstance(item, int | float) for item in (start, *items)):
        return sum(items, start)
    total = start
    for item in items:
        total = environment.call_binop(context, "+", total, item)  # type: ignore[attr-defined]
    return total
