"""What a block of code leaves for the garbage collector: objects held only by cycles."""

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cycles_left(*kinds: type) -> Iterator[list[str]]:
    """The names of the ``kinds`` of object the block left in reference cycles (filled in
    when it ends). Types are compared, not ``isinstance``: that would evaluate the lazy
    objects among the garbage."""
    left: list[str] = []
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield left
        gc.collect()
        left += [type(o).__name__ for o in gc.garbage if type(o) in kinds]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
