# Stub of HIPS autograd (https://github.com/HIPS/autograd), which ships no types: only what
# twolayer's cross-checks call. The gradient has the structure of the argument (a pytree of
# arrays), which a stub cannot express; it is Any, unpacked by the caller.
from collections.abc import Callable
from typing import Any, TypeVar

_T = TypeVar("_T")

def value_and_grad(fun: Callable[..., _T], argnum: int = 0) -> Callable[..., tuple[_T, Any]]: ...
