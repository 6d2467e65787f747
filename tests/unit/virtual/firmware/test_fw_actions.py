"""Running an action: delays, retries and repeats scaled by the time scale; failures logged, never raised."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import pytest

from phonehome.virtual.firmware import Action, Outcome
from phonehome.virtual.firmware.actions import ActionRunner
from phonehome.virtual.net import HandsetNetwork


class Logcat:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, str]] = []

    def __call__(self, priority: str, tag: str, message: str) -> None:
        self.lines.append((priority, tag, message))


def runner(
    tmp_path: Path, time_scale: float = 1e-4, network_wait_s: float = 0.05
) -> tuple[ActionRunner, Logcat]:
    logcat = Logcat()
    network = HandsetNetwork("phonehome-no-such-ns", "wlan0", tmp_path)
    return (
        ActionRunner(network, lambda n: {"attempt": str(n)}, time_scale=time_scale,
                     network_wait_s=network_wait_s, logcat=logcat),
        logcat,
    )  # fmt: skip


def scripted(run: ActionRunner, results: list[bool]) -> list[float]:
    """Replaces attempts by ``results`` in order; returns when each attempt happened."""
    times: list[float] = []

    async def attempt(phase: str, action: Action, number: int) -> Outcome:
        times.append(time.monotonic())
        ok = results[number - 1] if number <= len(results) else False
        return Outcome(phase, action.label, action.kind, "t", ok, "scripted", number)

    run.attempt = attempt  # type: ignore[method-assign]
    return times


def go(run: ActionRunner, action: Action) -> list[Outcome]:
    outcomes: list[Outcome] = []
    asyncio.run(run.run("network-attach", action, outcomes.append))
    return outcomes


def test_hourly_retries_run_in_fractions_of_a_second_and_stop_at_the_limit(tmp_path: Path) -> None:
    run, _ = runner(tmp_path, time_scale=1e-5)
    times = scripted(run, [])
    action = Action.model_validate(
        {"dns": {"name": "a.example"}, "retry": {"attempts": 10, "interval_s": 3600}}
    )
    started = time.monotonic()
    outcomes = go(run, action)
    assert [o.attempt for o in outcomes] == list(range(1, 11))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(g >= 3600 * 1e-5 * 0.9 for g in gaps), gaps
    assert time.monotonic() - started < 2.0


def test_a_success_ends_the_retries(tmp_path: Path) -> None:
    run, _ = runner(tmp_path)
    scripted(run, [False, False, True])
    action = Action.model_validate(
        {"dns": {"name": "a.example"}, "retry": {"attempts": 10, "interval_s": 60}}
    )
    assert [o.ok for o in go(run, action)] == [False, False, True]


def test_repeats_each_get_their_own_retries(tmp_path: Path) -> None:
    run, _ = runner(tmp_path)
    scripted(run, [False, True, True, False, False])
    action = Action.model_validate(
        {
            "dns": {"name": "a.example"},
            "repeat": {"count": 3, "interval_s": 600},
            "retry": {"attempts": 2, "interval_s": 60},
        }
    )
    assert [(o.attempt, o.ok) for o in go(run, action)] == [
        (1, False),
        (2, True),
        (3, True),
        (4, False),
        (5, False),
    ]


def test_the_delay_is_scaled(tmp_path: Path) -> None:
    run, _ = runner(tmp_path, time_scale=1e-3)
    times = scripted(run, [True])
    started = time.monotonic()
    go(run, Action.model_validate({"dns": {"name": "a.example"}, "delay_s": 100}))
    assert 0.09 <= times[0] - started < 1.0


def test_without_a_network_an_attempt_fails_and_is_logged_and_nothing_raises(tmp_path: Path) -> None:
    run, logcat = runner(tmp_path, network_wait_s=0.05)
    [outcome] = go(run, Action.model_validate({"label": "com.example.app", "dns": {"name": "a.example"}}))
    assert not outcome.ok
    assert "no network" in outcome.detail
    assert logcat.lines
    assert logcat.lines[-1][:2] == ("W", "com.example.app")
    assert logcat.lines[-1][2].startswith("dns a.example (attempt 1): NetworkDown")


def test_a_template_the_handset_cannot_fill_fails_the_attempt_only(tmp_path: Path) -> None:
    run, _ = runner(tmp_path)
    run.network.lease = object()  # type: ignore[assignment]  (attached: the failure must be the template's)
    action = Action.model_validate({"udp": {"host": "a.example", "port": 9, "payload": {"text": "{iccid2}"}}})
    [outcome] = go(run, action)
    assert not outcome.ok
    assert outcome.detail.startswith("cannot build the request")


@pytest.mark.parametrize("scale", [0.0, 1e-6])
def test_time_scale_zero_skips_waiting(tmp_path: Path, scale: float) -> None:
    run, _ = runner(tmp_path, time_scale=scale)
    scripted(run, [])
    started = time.monotonic()
    go(
        run,
        Action.model_validate(
            {"dns": {"name": "a"}, "delay_s": 86400, "retry": {"attempts": 3, "interval_s": 86400}}
        ),
    )
    assert time.monotonic() - started < 1.0
