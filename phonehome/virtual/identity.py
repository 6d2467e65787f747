"""The identifiers of one virtual handset, generated from a seed.

Every value is derived from ``seed`` and the field's own label through SHAKE-256,
so one seed always gives the same handset and adding a field never changes the
others. The values have the formats real phones report (Luhn-valid IMEIs and
ICCIDs, IMSIs whose MCC/MNC match the SIM's carrier, locally administered
randomized MACs), so the analyzer's matchers are tested against realistic data.
The shell reports these values over every channel (getprop, settings, service
call, dumpsys, ip link); firmware behaviour templates its payloads from
`HandsetIdentity.as_dict`.
"""

from __future__ import annotations

import hashlib
import math
import string
from dataclasses import dataclass, field, replace

ALNUM = string.digits + string.ascii_uppercase


def luhn_check_digit(payload: str) -> str:
    """The Luhn check digit that makes ``payload + digit`` valid (IMEI: ITU-T E.118 / 3GPP TS 23.003)."""
    if not payload.isdigit():
        raise ValueError(f"Luhn payload must be decimal digits, got {payload!r}")
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:  # doubled: every second digit counting from the check digit's left neighbour
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return len(number) > 1 and number.isdigit() and luhn_check_digit(number[:-1]) == number[-1]


class _Derive:
    """Deterministic draws keyed by (seed, label): independent per field, stable across versions."""

    def __init__(self, seed: str) -> None:
        self.seed = seed

    def bytes(self, label: str, n: int) -> bytes:
        return hashlib.shake_256(f"{self.seed}\x00{label}".encode()).digest(n)

    def integer(self, label: str, low: int, high: int) -> int:
        """Uniform enough in [low, high] (64 spare bits make the modulo bias negligible)."""
        span = high - low + 1
        return low + int.from_bytes(self.bytes(label, 16), "big") % span

    def digits(self, label: str, n: int) -> str:
        return "".join(str(b % 10) for b in self.bytes(label, n))

    def text(self, label: str, n: int, alphabet: str) -> str:
        return "".join(alphabet[b % len(alphabet)] for b in self.bytes(label, n))


@dataclass(frozen=True, slots=True)
class Carrier:
    """A mobile network as a SIM and the radio see it."""

    name: str
    mcc: str
    mnc: str
    iso: str  # ISO 3166 country code, lower case, as gsm.sim.operator.iso-country
    iccid_prefix: str = "89"  # 89 + country code + issuer, ITU-T E.118
    msisdn_prefix: str = "+1"  # country code and any fixed leading digits, E.164
    msisdn_length: int = 12  # digits after '+' in E.164

    @property
    def numeric(self) -> str:
        return self.mcc + self.mnc


@dataclass(frozen=True, slots=True)
class SimCard:
    """One SIM in one slot (slot 0 is SIM1)."""

    slot: int
    carrier: Carrier
    iccid: str
    imsi: str
    msisdn: str  # E.164 with '+'


@dataclass(frozen=True, slots=True)
class CellIdentity:
    """The serving LTE cell (CellIdentityLte), with the GSM/UMTS LAC for older channels."""

    mcc: str
    mnc: str
    tac: int
    lac: int
    cid: int  # E-UTRAN cell identity: 20-bit eNodeB id << 8 | 8-bit cell
    pci: int
    earfcn: int

    @property
    def enb(self) -> int:
        return self.cid >> 8


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float
    accuracy_m: float


@dataclass(frozen=True, slots=True)
class IdentitySpec:
    """What a profile fixes about identities: formats, prefixes and the region; the seed fills the rest."""

    tac: str  # Type Allocation Code: the first 8 IMEI digits, fixed per model
    svn: str = "01"  # software version number of IMEISV
    serial_prefix: str = ""
    serial_length: int = 12
    wifi_oui: str = "02:00:00"
    bt_oui: str = "02:00:00"
    carriers: tuple[Carrier, ...] = ()  # one per SIM slot that holds a SIM
    imei_slots: int = 1
    latitude: float = 0.0
    longitude: float = 0.0
    radius_km: float = 5.0
    earfcn: int = 1300


@dataclass(frozen=True, slots=True)
class HandsetIdentity:
    """All identifiers of one handset; what the analyzer must find if firmware leaks them."""

    seed: str
    serial: str
    imeis: tuple[str, ...]  # one per modem slot
    svn: str
    meid: str
    sims: tuple[SimCard, ...]
    wifi_mac: str  # factory (burned-in) address, lower case with colons
    wifi_mac_randomized: str  # what Android 10+ uses per network when randomization is on
    bt_mac: str
    android_id: str  # 16 hex digits, Settings.Secure.ANDROID_ID
    advertising_id: str  # UUID, Google advertising ID
    gsf_id: str  # 16 hex digits, Google Services Framework android_id
    location: Location
    cell: CellIdentity
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def imei(self) -> str:
        return self.imeis[0]

    @property
    def imeisv(self) -> str:
        """IMEISV: TAC + serial number of IMEI1 + SVN (16 digits, no check digit)."""
        return self.imeis[0][:14] + self.svn

    @property
    def sim(self) -> SimCard | None:
        return self.sims[0] if self.sims else None

    def as_dict(self) -> dict[str, str]:
        """Flat ``name -> value`` map for templating payloads (``{imei1}``, ``{iccid1}``, ``{wifi_mac}``...)."""
        out = {
            "serial": self.serial,
            "imei": self.imei,
            "imeisv": self.imeisv,
            "svn": self.svn,
            "meid": self.meid,
            "wifi_mac": self.wifi_mac,
            "wifi_mac_randomized": self.wifi_mac_randomized,
            "bt_mac": self.bt_mac,
            "android_id": self.android_id,
            "advertising_id": self.advertising_id,
            "gsf_id": self.gsf_id,
            "latitude": f"{self.location.latitude:.6f}",
            "longitude": f"{self.location.longitude:.6f}",
            "mcc": self.cell.mcc,
            "mnc": self.cell.mnc,
            "tac": str(self.cell.tac),
            "lac": str(self.cell.lac),
            "cell_id": str(self.cell.cid),
            "pci": str(self.cell.pci),
        }
        for i, imei in enumerate(self.imeis, 1):
            out[f"imei{i}"] = imei
        for sim in self.sims:
            n = sim.slot + 1
            out[f"iccid{n}"] = sim.iccid
            out[f"imsi{n}"] = sim.imsi
            out[f"msisdn{n}"] = sim.msisdn
            out[f"carrier{n}"] = sim.carrier.name
        if self.sims:
            out.update(iccid=self.sims[0].iccid, imsi=self.sims[0].imsi, msisdn=self.sims[0].msisdn)
        out.update(self.extra)
        return out


def _mac(first3: bytes, last3: bytes) -> str:
    return ":".join(f"{b:02x}" for b in first3 + last3)


def _oui(text: str) -> bytes:
    parts = text.replace("-", ":").split(":")
    if len(parts) != 3:
        raise ValueError(f"OUI must be three bytes like 'a4:50:46', got {text!r}")
    return bytes(int(p, 16) for p in parts)


def _imsi(carrier: Carrier, draw: _Derive, label: str) -> str:
    return carrier.numeric + draw.digits(label, 15 - len(carrier.numeric))


def _iccid(carrier: Carrier, draw: _Derive, label: str) -> str:
    """19 digits with the Luhn check digit (the 20th, 'F', that some SIMs pad with is not part of it)."""
    body = carrier.iccid_prefix + draw.digits(label, 18 - len(carrier.iccid_prefix))
    return body + luhn_check_digit(body)


def _msisdn(carrier: Carrier, draw: _Derive, label: str) -> str:
    fixed = carrier.msisdn_prefix.lstrip("+")
    return "+" + fixed + draw.digits(label, carrier.msisdn_length - len(fixed))


def issue_sim(seed: str, carrier: Carrier, slot: int, label: str, iccid: str | None = None) -> SimCard:
    """A SIM of ``carrier`` for ``slot``, drawn from ``seed`` under ``label`` (a new label, a new card).

    With ``iccid`` (a card the lab holds), the IMSI and MSISDN are drawn from that
    ICCID, so the same card always reads the same.
    """
    draw = _Derive(seed)
    key = f"iccid:{iccid}" if iccid is not None else label
    return SimCard(
        slot=slot,
        carrier=carrier,
        iccid=iccid if iccid is not None else _iccid(carrier, draw, f"{label}.iccid"),
        imsi=_imsi(carrier, draw, f"{key}.imsi"),
        msisdn=_msisdn(carrier, draw, f"{key}.msisdn"),
    )


def after_factory_reset(identity: HandsetIdentity, generation: int) -> HandsetIdentity:
    """The identity after wipe number ``generation`` (1...): what lives in /data is new.

    ANDROID_ID, the advertising ID and the GSF id are created on first boot and
    stored in user data; Android 10+ keeps the per-network random MAC secret
    there too. Hardware identifiers (IMEI, serial, factory MACs) and the SIMs stay.
    """
    draw = _Derive(f"{identity.seed}\x00reset{generation}")
    randomized = bytearray(draw.bytes("wifi.randomized", 6))
    randomized[0] = (randomized[0] & 0xFC) | 0x02  # locally administered, unicast (IEEE 802)
    return replace(
        identity,
        android_id=draw.bytes("android_id", 8).hex(),
        advertising_id=_uuid4(draw.bytes("advertising_id", 16)),
        gsf_id=draw.bytes("gsf_id", 8).hex(),
        wifi_mac_randomized=_mac(bytes(randomized[:3]), bytes(randomized[3:])),
    )


def _uuid4(raw: bytes) -> str:
    adid = bytearray(raw)
    adid[6] = (adid[6] & 0x0F) | 0x40  # UUID version 4
    adid[8] = (adid[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = adid.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def generate_identity(seed: str, spec: IdentitySpec) -> HandsetIdentity:
    """The identity of the handset ``seed`` with the formats ``spec`` fixes."""
    if len(spec.tac) != 8 or not spec.tac.isdigit():
        raise ValueError(f"TAC must be 8 digits, got {spec.tac!r}")
    draw = _Derive(seed)
    imeis = []
    base_snr = draw.integer("imei.snr", 0, 999_998 - spec.imei_slots)
    for slot in range(spec.imei_slots):
        body = f"{spec.tac}{base_snr + slot:06d}"  # dual-SIM phones get neighbouring serials of one TAC
        imeis.append(body + luhn_check_digit(body))
    sims = tuple(issue_sim(seed, carrier, slot, f"sim{slot}") for slot, carrier in enumerate(spec.carriers))
    randomized = bytearray(draw.bytes("wifi.randomized", 6))
    randomized[0] = (randomized[0] & 0xFC) | 0x02  # locally administered, unicast (IEEE 802)
    # Uniform over a disc of radius_km (square root of the radius draw), degrees at this latitude.
    r_km = spec.radius_km * math.sqrt(draw.integer("loc.r", 0, 10**6) / 10**6)
    theta = 2 * math.pi * draw.integer("loc.theta", 0, 10**6) / 10**6
    lat = spec.latitude + (r_km / 111.32) * math.cos(theta)
    lon = spec.longitude + (r_km / (111.32 * max(math.cos(math.radians(spec.latitude)), 0.01))) * math.sin(
        theta
    )
    home = spec.carriers[0] if spec.carriers else Carrier("", "001", "01", "")
    return HandsetIdentity(
        seed=seed,
        serial=spec.serial_prefix
        + draw.text("serial", max(spec.serial_length - len(spec.serial_prefix), 4), ALNUM),
        imeis=tuple(imeis),
        svn=spec.svn,
        meid="A0" + draw.text("meid", 12, "0123456789ABCDEF"),
        sims=sims,
        wifi_mac=_mac(_oui(spec.wifi_oui), draw.bytes("wifi.factory", 3)),
        wifi_mac_randomized=_mac(bytes(randomized[:3]), bytes(randomized[3:])),
        bt_mac=_mac(_oui(spec.bt_oui), draw.bytes("bt", 3)),
        android_id=draw.bytes("android_id", 8).hex(),
        advertising_id=_uuid4(draw.bytes("advertising_id", 16)),
        gsf_id=draw.bytes("gsf_id", 8).hex(),
        location=Location(round(lat, 6), round(lon, 6), accuracy_m=float(draw.integer("loc.acc", 5, 40))),
        cell=CellIdentity(
            mcc=home.mcc,
            mnc=home.mnc,
            tac=draw.integer("cell.tac", 1, 0xFFFE),
            lac=draw.integer("cell.lac", 1, 0xFFFE),
            cid=draw.integer("cell.enb", 1, (1 << 20) - 1) << 8 | draw.integer("cell.sector", 0, 3),
            pci=draw.integer("cell.pci", 0, 503),
            earfcn=spec.earfcn,
        ),
    )
