"""Which firmware a unit runs: the build-identity assertion's input and the lab report's header.

The Nokia 7 Plus case was a global build carrying a China-variant package;
what proves a unit carries its market's build is the fingerprint, the patch
level, the region and carrier properties OEMs set per SKU, and the package
list. The device layer reads them (``getprop``, ``pm list packages -f -U``:
`phonehome.device.build`); the record lives here, where it is judged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

BUILD_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"type": "null"},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["fingerprint", "build_type", "tags"],
            "properties": {
                "fingerprint": {"type": "string"},
                "build_type": {
                    "type": "string",
                    "description": "ro.build.type: user, userdebug, eng",
                },
                "tags": {
                    "type": "string",
                    "description": "ro.build.tags: release-keys, test-keys...",
                },
            },
        },
    ],
    "description": "The build every verdict is of, as read over ADB; null: it was not read.",
}
"""The JSON schema of the build summary every evaluation carries (`BuildIdentity.summary`)."""


@dataclass(frozen=True)
class Package:
    """One line of ``pm list packages -f -U``."""

    name: str
    path: str
    uids: tuple[int, ...] = ()


@dataclass(frozen=True)
class BuildIdentity:
    """The firmware a unit runs, as its properties and package manager report it."""

    fingerprint: str
    build_id: str
    display_id: str
    incremental: str
    release: str
    sdk: int
    security_patch: str
    vendor_security_patch: str
    build_type: str
    """``ro.build.type``: ``user`` (retail), ``userdebug`` or ``eng``: their traffic can differ."""
    tags: str
    """``ro.build.tags``: ``release-keys`` (retail), ``test-keys``, ``dev-keys``."""
    brand: str
    manufacturer: str
    model: str
    device: str
    product: str
    baseband: str
    partition_fingerprints: dict[str, str] = field(default_factory=dict)
    region: dict[str, str] = field(default_factory=dict)
    """Region, market and carrier properties (``ro.product.locale``, ``ro.csc.*``, ``ro.config.*``...)."""
    packages: tuple[Package, ...] = ()

    def package_names(self) -> list[str]:
        return [p.name for p in self.packages]

    def mixed_partitions(self) -> dict[str, str]:
        """Partitions whose fingerprint is not the build's (a unit flashed from two releases)."""
        return {k: v for k, v in self.partition_fingerprints.items() if v and v != self.fingerprint}

    def summary(self) -> dict[str, str]:
        """What every verdict is recorded with: which build, of which type and keys."""
        return {"fingerprint": self.fingerprint, "build_type": self.build_type, "tags": self.tags}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["packages"] = [{"name": p.name, "path": p.path, "uids": list(p.uids)} for p in self.packages]
        return data

    as_dict = to_dict

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BuildIdentity:
        """The record `to_dict` wrote (``build.json`` in a results folder); ValueError when it is not one."""
        try:
            fields = dict(data)
            fields["packages"] = tuple(
                Package(str(p["name"]), str(p.get("path", "")), tuple(int(u) for u in p.get("uids", ())))
                for p in fields.get("packages", ())
            )
            fields["partition_fingerprints"] = {
                str(k): str(v) for k, v in dict(fields.get("partition_fingerprints", {})).items()
            }
            fields["region"] = {str(k): str(v) for k, v in dict(fields.get("region", {})).items()}
            fields["sdk"] = int(fields["sdk"])
            return cls(**fields)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a build identity record: {exc}") from exc
