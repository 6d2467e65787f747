"""build-identity: the unit runs the release certified for its SKU, and nothing of another market's build.

Judged from what the handset's build says (``getprop``, ``pm list packages``),
not from its traffic: a package that belongs only to another market's builds
(`phonehome.policy.markets`: the China self-registration clients) is a
finding from the package list alone, caught at install time, before the
handset sent a byte. With the manifest's ``release:`` section the
fingerprint, patch level, region properties and the whole package list are
compared too. Without a release section there is nothing to compare against:
INCONCLUSIVE, saying what to declare.
"""

from __future__ import annotations

from phonehome.policy.assertions import Assertion, Judgement
from phonehome.policy.assertions.common import finding, missing
from phonehome.policy.build import BuildIdentity
from phonehome.policy.context import Context
from phonehome.policy.findings import BUILD_IDENTITY, Finding, Verdict
from phonehome.policy.manifest import Release
from phonehome.policy.markets import foreign, market_packages

CLAUSES = ("certification binds hardware and software", "RED re-assessment")
NO_BUILD = (
    "the handset's build was not read (getprop, pm list packages over ADB after the scenario): its "
    "fingerprint and packages could not be compared"
)
MAX_LISTED = 50
"""Packages named one finding each, at most; the rest are counted in one more."""


def judge(ctx: Context) -> Judgement:
    build = ctx.build
    if build is None:
        return missing(BUILD_IDENTITY, CLAUSES, NO_BUILD), []
    release = ctx.manifest.release if ctx.manifest is not None else None
    names = build.package_names()
    doubts = []
    if not names:
        doubts.append("the package manager listed no packages: the build's contents are not known")
    findings: list[Finding] = []
    if release is None:
        strays = [p.name for p in market_packages().values() if p.name in names]
        hint = f" (it carries {', '.join(strays)}, which only some markets' builds carry)" if strays else ""
        doubts.append(
            "the manifest has no release: section (sku, market, fingerprints, region, packages): the build "
            f"{build.fingerprint or '(no fingerprint)'} was not compared with a certified release{hint}"
        )
    else:
        findings += _market(release, names)
        findings += _release(release, build)
    # What undermines the run undermines its build record too (read over ADB at its end: a handset that
    # went away, a scenario that did not finish); a build gate that PASSes beside them is not earned.
    return _verdict(build, release, findings, [*doubts, *ctx.degraded]), findings


def _market(release: Release, names: list[str]) -> list[Finding]:
    return [
        finding(
            "foreign-package",
            BUILD_IDENTITY,
            CLAUSES,
            None,
            f"{p.name} is installed: it belongs to {', '.join(p.markets)} builds only ({p.what}); "
            f"this unit's SKU {release.sku} is sold in market {release.market}",
        )
        for p in foreign(names, release.market)
    ]


def _release(release: Release, build: BuildIdentity) -> list[Finding]:
    out = []

    def add(rule: str, detail: str) -> None:
        out.append(finding(rule, BUILD_IDENTITY, CLAUSES, None, detail))

    if release.fingerprints and build.fingerprint not in release.fingerprints:
        add(
            "fingerprint",
            f"fingerprint {build.fingerprint or '(none)'} is not a certified build of SKU {release.sku} "
            f"(certified: {', '.join(release.fingerprints)})",
        )
    for partition, fingerprint in build.mixed_partitions().items():
        add("mixed-partitions", f"the {partition} partition is from another build ({fingerprint})")
    if release.security_patch is not None and build.security_patch != release.security_patch:
        add(
            "security-patch",
            f"security patch {build.security_patch or '(none)'}, the release has {release.security_patch}",
        )
    for key, wanted in release.region.items():
        have = build.region.get(key)
        if have != wanted:
            add("region", f"{key} is {have!r}, the release for SKU {release.sku} has {wanted!r}")
    if release.packages is not None:
        installed, listed = set(build.package_names()), set(release.packages)
        extra = sorted(installed - listed)
        gone = sorted(listed - installed)
        for name in extra[:MAX_LISTED]:
            add("package-not-in-release", f"{name} is installed but not in the release's package list")
        for name in gone[:MAX_LISTED]:
            add("package-missing", f"{name} is in the release's package list but not installed")
        more = max(len(extra) - MAX_LISTED, 0) + max(len(gone) - MAX_LISTED, 0)
        if more:
            add("package-list", f"{more} more packages differ from the release's list")
    return out


def _verdict(
    build: BuildIdentity, release: Release | None, findings: list[Finding], doubts: list[str]
) -> Verdict:
    kind = f"{build.build_type or 'unknown type'}/{build.tags or 'unknown keys'}"
    if findings:
        many = "s" if len(findings) > 1 else ""
        return Verdict(
            BUILD_IDENTITY,
            "FAIL",
            f"{len(findings)} finding{many}: {findings[0].detail} (build {build.fingerprint}, {kind})",
            len(findings),
            list(CLAUSES),
        )
    if doubts or release is None:
        return Verdict(BUILD_IDENTITY, "INCONCLUSIVE", "; ".join(doubts), 0, list(CLAUSES))
    compared = ["market packages"]
    compared += ["fingerprint"] if release.fingerprints else []
    compared += ["security patch"] if release.security_patch else []
    compared += ["region properties"] if release.region else []
    compared += ["package list"] if release.packages is not None else []
    return Verdict(
        BUILD_IDENTITY,
        "PASS",
        f"build {build.fingerprint} ({kind}) matches the release for SKU {release.sku} ({release.market}): "
        f"{', '.join(compared)} compared",
        0,
        list(CLAUSES),
    )


ASSERTION = Assertion(
    BUILD_IDENTITY,
    "the unit runs the release certified for its SKU, with no package of another market's build",
    "fingerprint, region properties or packages differ from the release manifest for that SKU",
    CLAUSES,
    ("build", "manifest"),
    judge,
)
