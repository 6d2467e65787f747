"""The Setup Wizard's state: what the user has chosen and typed, and where they are."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class WifiNetwork:
    """A network the Wi-Fi screen lists; ``password`` None means an open network."""

    ssid: str
    password: str | None = None


@dataclass(frozen=True, slots=True)
class WizardState:
    """A snapshot of what the user has done so far."""

    screen: str
    language: str
    wifi: str | None  # the SSID joined in the wizard
    consents: dict[str, dict[str, object]]  # consent screen -> its consent event's detail
    fields: dict[str, str]
    completed: bool


@dataclass(slots=True)
class UiState:
    screen: str
    language: str
    history: list[str] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)
    scrolls: dict[str, int] = field(default_factory=dict)
    focus: str | None = None
    selected: str | None = None  # the network a password is being typed for
    connected: str | None = None
    errors: dict[str, str] = field(default_factory=dict)
    consents: dict[str, dict[str, object]] = field(default_factory=dict)
    completed: bool = False
    entered_at: float = 0.0
