"""``unhooked``: a twolayer function without jaxtyping's run-time check, and nothing else removed.

During the ordinary test run jaxtyping's import hook (``--jaxtyping-packages=twolayer``) wraps
every twolayer function in a beartype shape check, which refuses an ill-typed call first, in its
own words; tests of twolayer's own messages call the function underneath. A bare
``inspect.unwrap`` would go too far: ``nox -s mutation`` switches each mutant on inside mutmut's
trampoline, itself a wrapper, and the unmutated original beneath it would judge no mutant.
"""

import inspect
from collections.abc import Callable
from typing import TypeVar, cast

F = TypeVar("F", bound=Callable[..., object])


def is_not_jaxtyping(function: Callable[..., object]) -> bool:
    """True for any wrapper but jaxtyping's, where ``inspect.unwrap`` must stop."""
    return "jaxtyping" not in inspect.getfile(function)


def unhooked(function: F) -> F:
    """``function`` with jaxtyping's import-hook wrapper stripped, and only that one."""
    return cast(F, inspect.unwrap(function, stop=is_not_jaxtyping))
