"""The lab's interception CA in a handset's system trust store, over ADB (``tls: intercept``).

Apps trust only the system store since Android 7 (user CAs only where an app's
network security config says so), and the system partition is writable only on
a debuggable (userdebug or eng) build: ``adb root``, ``adb remount`` (after
``adb disable-verity`` and a reboot, once per handset), then one PEM file named
by OpenSSL's old subject hash in ``/system/etc/security/cacerts``. Android 14
and later read system CAs from the Conscrypt APEX instead, which ``remount``
does not make writable: there the CA goes into a tmpfs copy of that folder,
bind-mounted over it in the mount namespaces of init, the zygotes and every app
(again after each boot, since the mounts do not survive one). A user build
cannot take a system CA at all: `install_system_ca` refuses it with what to do
instead.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from phonehome.device.errors import DeviceError

if TYPE_CHECKING:
    from phonehome.device.handset import Handset

SYSTEM_CACERTS = "/system/etc/security/cacerts"
APEX_CACERTS = "/apex/com.android.conscrypt/cacerts"
STAGING = "/data/local/tmp/phonehome-cacerts"
APEX_SDK = 34
"""Android 14: system CAs come from the Conscrypt APEX."""
STEP = "install the lab CA"

# One root shell script (sh, no bashisms): a tmpfs copy of the APEX's CAs plus ours, bound over the
# folder in every mount namespace that has it (init's, the zygotes', each running app's).
APEX_SCRIPT = f"""set -e
rm -rf {STAGING}.apex && mkdir -p {STAGING}.apex
cp {APEX_CACERTS}/* {STAGING}.apex/
cp {STAGING}/$1 {STAGING}.apex/
mount -t tmpfs tmpfs {SYSTEM_CACERTS}
cp {STAGING}.apex/* {SYSTEM_CACERTS}/
chown root:root {SYSTEM_CACERTS}/* && chmod 644 {SYSTEM_CACERTS}/*
chcon u:object_r:system_file:s0 {SYSTEM_CACERTS}/*
zygotes=$(pidof zygote zygote64 || true)
apps=$(ps -A -o PID=,PPID= | while read -r pid parent; do
  for z in $zygotes; do [ "$parent" = "$z" ] && echo "$pid"; done
done)
for pid in 1 $zygotes $apps; do
  nsenter --mount=/proc/$pid/ns/mnt -- mount --bind {SYSTEM_CACERTS} {APEX_CACERTS} || true
done
echo bound
"""


class TrustError(DeviceError):
    """The CA could not be put into the handset's system store; the message says what the lab can do."""


@dataclass(frozen=True, slots=True)
class InstalledCa:
    """Where the CA went and how, for the run's record."""

    path: str
    apex: bool
    """Also bound over the Conscrypt APEX's folder (Android 14+): lost at the next boot."""


def install_system_ca(handset: Handset, pem: bytes, file_name: str) -> InstalledCa:
    """Puts ``pem`` into ``handset``'s system trust store as ``file_name`` (``HASH.0``).

    Raises `TrustError` on a user build (nothing can be done over ADB), when adbd will not run as
    root, or when the system partition will not remount (verity still on).
    """
    props = handset.properties(step=STEP)
    build_type = props.get("ro.build.type", "?")
    if props.get("ro.debuggable") != "1":
        raise TrustError(
            handset.serial,
            STEP,
            f"a {build_type} build: its system trust store cannot be written and apps ignore user CAs",
            "interception needs a userdebug or eng build of the firmware; on this one run the bench "
            "with tls: validate (self-signed and untrusted-CA certificates need no CA on the handset)",
        )
    answer = _service(handset, "root:")
    if "cannot run as root" in answer:
        raise TrustError(handset.serial, STEP, f"adb root refused: {answer.strip()}", "use a userdebug build")
    handset.wait_for_device(step=STEP)
    answer = _service(handset, "remount:")
    if "succeeded" not in answer and "remounted" not in answer:
        raise TrustError(
            handset.serial,
            STEP,
            f"adb remount refused: {answer.strip() or 'no answer'}",
            "run `adb disable-verity` and reboot the handset once, then run again",
        )
    path = f"{SYSTEM_CACERTS}/{file_name}"
    _push(handset, pem, path)
    handset.shell(["chmod", "644", path], step=STEP)
    sdk = int(props.get("ro.build.version.sdk", "0") or 0)
    apex = sdk >= APEX_SDK and handset.shell(["ls", APEX_CACERTS], step=STEP, check=False).exit_code == 0
    if apex:
        handset.shell(["mkdir", "-p", STAGING], step=STEP)
        _push(handset, pem, f"{STAGING}/{file_name}")
        done = handset.shell(["sh", "-c", APEX_SCRIPT, "sh", file_name], step=STEP, check=False, timeout=60)
        if "bound" not in done.stdout:
            raise TrustError(
                handset.serial,
                STEP,
                f"binding the CA over {APEX_CACERTS} failed: {(done.stderr or done.stdout).strip()[:300]}",
                "see docs/tls.md (Android 14 and later)",
            )
    return InstalledCa(path, apex)


def _push(handset: Handset, data: bytes, path: str) -> None:
    try:
        handset.adb_device().sync.push(io.BytesIO(data), path, mode=0o644)
    except Exception as exc:  # adbutils raises its own errors and OSError subclasses alike
        raise TrustError(handset.serial, STEP, f"push to {path} failed: {exc}") from exc


def _service(handset: Handset, service: str) -> str:
    """The text an adbd service (``root:``, ``remount:``) answers, read to the end."""
    try:
        with handset.adb_device().open_transport() as conn:
            conn.send_command(service)
            conn.check_okay()
            answer = conn.read_until_close()
    except Exception as exc:  # adbutils raises its own errors and OSError subclasses alike
        raise TrustError(handset.serial, STEP, f"adb {service.rstrip(':')} failed: {exc}") from exc
    return answer if isinstance(answer, str) else bytes(answer).decode(errors="replace")
