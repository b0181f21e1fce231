"""The objects a process loads at start, set aside from the garbage collector's rounds.

A web process holds some 330,000 objects once its code is loaded (Django, the
vendors' clients, our modules), and CPython's full collection walks every one:
about 210 ms here, every few hundred requests, during which the process answers
nothing (bench/api.py's tail). Loaded once and kept for the process's life,
they are frozen (``gc.freeze``): a full collection then walks only what came
later, well under a millisecond.

The other half of the cure is to leave little for the collector to find: a
request's objects are freed as soon as they are unused only if they hold no
reference cycle (see ``config.asgi.Handler`` and ``chat.services.sending._govern_and_record``).
"""

import gc
import importlib


def freeze_after_loading(*modules: str) -> None:
    """Import ``modules`` (what the process's work will load anyway), collect what
    loading left behind, then freeze everything the process holds."""
    for name in modules:
        importlib.import_module(name)
    gc.collect()
    gc.freeze()
