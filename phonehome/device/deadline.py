"""A deadline that several socket steps share, so one adb call cannot outlive its budget."""

from __future__ import annotations

import socket
import time

MIN_STEP_S = 0.001


class Deadline:
    """``timeout`` seconds from now; `remaining` raises `TimeoutError` (= socket.timeout) once it has passed."""

    def __init__(self, timeout: float) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        self.timeout = timeout
        self.at = time.monotonic() + timeout

    def remaining(self) -> float:
        left = self.at - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"deadline of {self.timeout:g} s passed")
        return max(left, MIN_STEP_S)

    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def arm(self, sock: socket.socket) -> None:
        """Gives the socket what is left of the deadline for its next blocking step."""
        sock.settimeout(self.remaining())
