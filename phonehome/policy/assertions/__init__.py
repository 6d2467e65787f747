"""The assertions of a compliance run, one module each, registered in one list.

Each assertion is an `Assertion`: its name, what it checks, the requirement
clauses it traces to, the inputs it needs and its judge. ``REGISTRY`` holds
them in DESIGN.md's order; the compliance suite makes one test per entry, so
an assertion cannot exist without its test (mitmproxy's ``default_addons()``
is the model).

    for assertion in REGISTRY:
        verdict, findings = assertion.judge(context)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from phonehome.policy.context import Context
from phonehome.policy.findings import Finding, Verdict

Judgement = tuple[Verdict, list[Finding]]


@dataclass(frozen=True, slots=True)
class Assertion:
    """One thing a compliance run checks, and how."""

    name: str
    """``declared-endpoints``: what verdicts, findings and tests call it."""
    title: str
    """What a passing run shows, in a sentence a lab can put in a report."""
    fails_when: str
    clauses: tuple[str, ...]
    """Requirement clauses it traces to (REQUIREMENTS.md), quoted by id in every report."""
    needs: tuple[str, ...]
    """Inputs without which it cannot PASS: ``manifest``, ``identity``, ``timeline``, ``geo``,
    ``tls-validate`` (a bench that offered bad certificates), ``build`` (the build read over ADB)."""
    judge: Callable[[Context], Judgement]
    phases: tuple[str, ...] = ()
    """Phases it needs marked on the timeline besides those the run's scenario declared (``consent``)."""


def default_assertions() -> tuple[Assertion, ...]:
    """Every assertion, in DESIGN.md's order."""
    from phonehome.policy.assertions import (  # noqa: PLC0415  (the modules import this one)
        build_identity,
        certificate_validation,
        consent,
        declared_endpoints,
        identifier_recipients,
        no_cleartext,
        regions,
        transport,
        visible_dns,
    )

    return (
        declared_endpoints.ASSERTION,
        no_cleartext.ASSERTION,
        identifier_recipients.ASSERTION,
        transport.ASSERTION,
        consent.ASSERTION,
        regions.ASSERTION,
        visible_dns.ASSERTION,
        certificate_validation.ASSERTION,
        build_identity.ASSERTION,
    )


def registry() -> tuple[Assertion, ...]:
    """The registered assertions (built once)."""
    global _REGISTRY  # noqa: PLW0603  (a cache; modules import this package before it is complete)
    if _REGISTRY is None:
        _REGISTRY = default_assertions()
    return _REGISTRY


_REGISTRY: tuple[Assertion, ...] | None = None


def get(name: str) -> Assertion:
    """The assertion called ``name``; KeyError names the known ones."""
    for assertion in registry():
        if assertion.name == name:
            return assertion
    known = ", ".join(a.name for a in registry())
    raise KeyError(f"no assertion {name!r} (known: {known})")


def judge(ctx: Context) -> tuple[list[Verdict], list[Finding]]:
    """Every registered assertion over one context; findings in registry order."""
    verdicts: list[Verdict] = []
    findings: list[Finding] = []
    for assertion in registry():
        verdict, found = assertion.judge(ctx)
        verdicts.append(verdict)
        findings += found
    return verdicts, findings


__all__ = ["Assertion", "Judgement", "default_assertions", "get", "judge", "registry"]
