"""Identities, manifests, leak detection, findings and verdicts (offline, no I/O besides reading files).

    identity = load_identity(Path("id.yaml"))
    manifest = load_manifest(Path("manifests/aosp-first-boot.yaml"))
    evaluation = analyze_capture(["run.pcapng"], identity=identity, manifest=manifest)
    evaluation.result, evaluation.verdicts, evaluation.findings

Streaming use (one pass over a capture, beside other observers):
``LeakDetector`` is a ``phonehome.traffic.FlowObserver``; ``evaluate`` judges
its findings with the flows. The assertions are registered in
``phonehome.policy.assertions`` (``registry()``), one module each.
"""

from phonehome.policy.assertions import Assertion, get, registry
from phonehome.policy.decode import Limits
from phonehome.policy.evaluate import (
    BenchFacts,
    Evaluation,
    analyze_capture,
    bench_facts,
    evaluate,
    evaluate_capture,
)
from phonehome.policy.findings import RESULTS, Finding, FlowRef, Verdict, worst
from phonehome.policy.geo import GeoDatabase, Place, default_database
from phonehome.policy.handset import Handset, infer, parse_handset
from phonehome.policy.identity import Identity, load_identity
from phonehome.policy.leaks import LeakDetector
from phonehome.policy.manifest import Endpoint, Manifest, Policy, load_manifest
from phonehome.yamlconf import ConfigError

__all__ = [
    "RESULTS",
    "Assertion",
    "BenchFacts",
    "ConfigError",
    "Endpoint",
    "Evaluation",
    "Finding",
    "FlowRef",
    "GeoDatabase",
    "Handset",
    "Identity",
    "LeakDetector",
    "Limits",
    "Manifest",
    "Place",
    "Policy",
    "Verdict",
    "analyze_capture",
    "bench_facts",
    "default_database",
    "evaluate",
    "evaluate_capture",
    "get",
    "infer",
    "load_identity",
    "load_manifest",
    "parse_handset",
    "registry",
    "worst",
]
