"""The SIM slots of a virtual handset: what is in them, and what the radio reports about it.

`SimTray` is the lab assistant's side (insert, remove, swap a card); it
hands back the handset's new `HandsetIdentity`, and the handset makes the
change visible as Android does: the ``gsm.sim.*``/``gsm.operator.*``
properties (`sim_properties`), ``dumpsys telephony.registry`` and
``service call iphonesubinfo`` (both read the identity), and the
``android.intent.action.SIM_STATE_CHANGED`` broadcast (`sim_broadcasts`).
"""

from __future__ import annotations

from dataclasses import replace

from phonehome.virtual.identity import Carrier, HandsetIdentity, SimCard, issue_sim, luhn_valid

SIM_STATE_CHANGED = "android.intent.action.SIM_STATE_CHANGED"
MAX_FRESH_SIMS = 10_000


class SimError(ValueError):
    """A SIM act that cannot be done (a full or empty slot, a malformed ICCID); says what to do."""


def slots(identity: HandsetIdentity) -> list[SimCard | None]:
    """One entry per modem slot: the SIM in it, or None when the slot is empty."""
    by_slot = {s.slot: s for s in identity.sims}
    return [by_slot.get(i) for i in range(max(len(identity.imeis), 1))]


def sim_properties(identity: HandsetIdentity) -> dict[str, str]:
    """The per-slot telephony properties (comma-separated, slot 0 first) for the SIMs present."""
    present = slots(identity)

    def per_slot(value: str | None, fallback: str = "") -> str:
        return ",".join(value if s is not None and value is not None else fallback for s in present)

    def each(field: str) -> str:
        return ",".join(getattr(s.carrier, field) if s is not None else "" for s in present)

    return {
        "gsm.network.type": ",".join("LTE" if s is not None else "Unknown" for s in present),
        "gsm.sim.state": ",".join("READY" if s is not None else "ABSENT" for s in present),
        "gsm.sim.operator.numeric": each("numeric"),
        "gsm.sim.operator.alpha": each("name"),
        "gsm.sim.operator.iso-country": each("iso"),
        "gsm.operator.numeric": each("numeric"),
        "gsm.operator.alpha": each("name"),
        "gsm.operator.iso-country": each("iso"),
        "gsm.operator.isroaming": per_slot("false", "false"),
    }


def sim_broadcasts(slot: int, sim: SimCard | None) -> list[tuple[str, dict[str, str]]]:
    """SIM_STATE_CHANGED as the telephony stack sends it: ABSENT, or READY then LOADED (records read)."""
    base = {"phone": str(slot), "slot": str(slot), "android.telephony.extra.SLOT_INDEX": str(slot)}
    if sim is None:
        return [(SIM_STATE_CHANGED, {"ss": "ABSENT", **base})]
    return [
        (SIM_STATE_CHANGED, {"ss": "READY", **base}),
        (SIM_STATE_CHANGED, {"ss": "LOADED", **base}),
    ]


def check_iccid(iccid: str) -> str:
    """A card's ICCID as printed (19 or 20 digits, ``89...``, Luhn check digit last); SimError if not."""
    text = iccid.strip()
    if not (text.isdigit() and len(text) in (19, 20) and text.startswith("89")):
        raise SimError(f"ICCID {iccid!r} is not 19 or 20 digits starting with 89 (ITU-T E.118)")
    if not luhn_valid(text):
        raise SimError(f"ICCID {iccid!r} fails its Luhn check digit: a typo? (read it off the card again)")
    return text


class SimTray:
    """The handset's SIM slots, with every card it has held (a fresh card is never one seen before).

    ``carriers``: the profile's SIM definitions by slot (``region.sims``); a
    slot beyond them gets the first one's carrier. ``defined``: the SIMs the
    profile would put in at first power-on, handed out first by a fresh insert
    when they were not inserted at boot.
    """

    def __init__(self, seed: str, carriers: tuple[Carrier, ...], defined: tuple[SimCard, ...]) -> None:
        self.seed = seed
        self.carriers = carriers
        self._unused = {sim.slot: sim for sim in defined}
        self._issued: set[str] = set()
        self._fresh = 0

    def seen(self, identity: HandsetIdentity) -> None:
        """Notes the cards in ``identity`` (at power-on) as issued."""
        for sim in identity.sims:
            self._issued.add(sim.iccid)
            self._unused.pop(sim.slot, None)

    def insert(self, identity: HandsetIdentity, slot: int, iccid: str | None = None) -> HandsetIdentity:
        self._check_slot(identity, slot)
        current = slots(identity)[slot]
        if current is not None:
            raise SimError(f"slot {slot} already holds SIM {current.iccid}: remove it first, or swap it")
        return self._put(identity, self._card(slot, iccid))

    def remove(self, identity: HandsetIdentity, slot: int) -> HandsetIdentity:
        self._check_slot(identity, slot)
        if slots(identity)[slot] is None:
            raise SimError(f"slot {slot} is empty: there is no SIM to remove")
        return replace(identity, sims=tuple(s for s in identity.sims if s.slot != slot))

    def swap(self, identity: HandsetIdentity, slot: int, iccid: str | None = None) -> HandsetIdentity:
        """Takes out the card in ``slot`` (if any) and puts in another: its ICCID always differs."""
        self._check_slot(identity, slot)
        current = slots(identity)[slot]
        if current is not None and iccid is not None and check_iccid(iccid) == current.iccid:
            raise SimError(f"slot {slot} already holds {current.iccid}: a swap puts in a different card")
        card = self._card(slot, iccid)
        emptied = replace(identity, sims=tuple(s for s in identity.sims if s.slot != slot))
        return self._put(emptied, card)

    def carrier(self, slot: int) -> Carrier:
        if not self.carriers:
            raise SimError("the profile defines no SIM (region.sims): give an ICCID's carrier there first")
        return self.carriers[slot] if slot < len(self.carriers) else self.carriers[0]

    def _card(self, slot: int, iccid: str | None) -> SimCard:
        carrier = self.carrier(slot)
        if iccid is not None:
            card = issue_sim(self.seed, carrier, slot, "given", check_iccid(iccid))
        elif slot in self._unused:
            card = replace(self._unused.pop(slot), slot=slot)
        else:
            card = self._fresh_card(carrier, slot)
        self._issued.add(card.iccid)
        return card

    def _fresh_card(self, carrier: Carrier, slot: int) -> SimCard:
        for _ in range(MAX_FRESH_SIMS):
            self._fresh += 1
            card = issue_sim(self.seed, carrier, slot, f"sim{slot}.fresh{self._fresh}")
            if card.iccid not in self._issued:
                return card
        raise SimError(
            f"no unused ICCID after {MAX_FRESH_SIMS} draws (the carrier's ICCID prefix is too long?)"
        )

    @staticmethod
    def _check_slot(identity: HandsetIdentity, slot: int) -> None:
        count = len(slots(identity))
        if not 0 <= slot < count:
            raise SimError(f"no SIM slot {slot}: this handset has slot(s) 0..{count - 1} (0 is SIM1)")

    @staticmethod
    def _put(identity: HandsetIdentity, card: SimCard) -> HandsetIdentity:
        sims = sorted((*identity.sims, card), key=lambda s: s.slot)
        return replace(identity, sims=tuple(sims))
