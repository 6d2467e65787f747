"""Which packages belong to which market's builds only (``data/market-packages.yaml``, with sources).

Loaded strictly (unknown keys are errors), once per process. The build-identity
assertion asks `foreign` for a build's package list: each package whose
markets do not include the build's market is one that should not be there.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pydantic

from phonehome.yamlconf import StrictModel, load_model

DATA = Path(__file__).parent / "data" / "market-packages.yaml"


class MarketPackage(StrictModel):
    """A package shipped only in some markets' builds."""

    name: str = pydantic.Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+$")
    markets: tuple[str, ...] = pydantic.Field(min_length=1)
    what: str
    source: str = pydantic.Field(min_length=1, description="where the fact comes from")


class MarketPackages(StrictModel):
    packages: tuple[MarketPackage, ...]


@cache
def market_packages(path: Path = DATA) -> dict[str, MarketPackage]:
    return {p.name: p for p in load_model(MarketPackages, path).packages}


def foreign(names: list[str], market: str, path: Path = DATA) -> list[MarketPackage]:
    """The packages in ``names`` that belong only to markets other than ``market``, in list order."""
    known = market_packages(path)
    return [known[n] for n in names if n in known and market not in known[n].markets]
