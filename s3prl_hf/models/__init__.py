"""The families: one package per implementation, each declaring itself with `FAMILY = Family(...)`.

Nothing here names a family: `family_names()` lists the packages of this folder, `get_family(name)` imports one and
returns its declaration, `families()` all of them. Modules of this folder that are not packages hold code shared by
several families (e.g. `rnn_alignment`).

Example:
    >>> from s3prl_hf.models import families
    >>> sorted(families())[:3]  # doctest: +SKIP
    ['apc', 'ast', 'byol_a']
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from .family import Family, SecondFile

__all__ = ["Family", "SecondFile", "families", "family_names", "get_family"]


def family_names() -> tuple[str, ...]:
    """The names of the family packages, sorted, without importing them."""
    return tuple(sorted(info.name for info in pkgutil.iter_modules(__path__) if info.ispkg))


@cache
def get_family(name: str) -> Family:
    """Import family `name` and return its declaration.

    Raises:
        KeyError: no such family.
        TypeError: the package declares no `FAMILY` (a bug of that package).
    """
    if name not in family_names():
        raise KeyError(f"no family {name!r} (families: {', '.join(family_names())})")
    module = importlib.import_module(f"{__name__}.{name}")
    family = getattr(module, "FAMILY", None)
    if not isinstance(family, Family) or family.name != name:
        raise TypeError(f"s3prl_hf.models.{name} must declare FAMILY = Family(name={name!r}, ...)")
    return family


def families() -> dict[str, Family]:
    """Every family's declaration, by name (imports them all)."""
    return {name: get_family(name) for name in family_names()}
