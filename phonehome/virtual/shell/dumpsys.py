"""``dumpsys SERVICE``: the sections adbutils, uiautomator2 and phonehome's device layer parse.

Each dump keeps the lines those clients match (``mCurrentFocus=Window{..}``,
``DisplayViewport{..orientation=..}``, ``CellIdentityLte:{ mCi=.. }``,
``versionName=``...) in the layout the named Android release prints.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from phonehome.virtual.shell.interpreter import Invocation
from phonehome.virtual.state import HandsetState


def _short_hash(text: str, digits: int = 8) -> str:
    """A stable hex tag (object ids in dumps); the same on every run, unlike hash()."""
    return hashlib.sha256(text.encode()).hexdigest()[:digits]


def _stamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


class Dumpsys:
    def __init__(self, state: HandsetState) -> None:
        self.state = state

    async def __call__(self, inv: Invocation) -> int:
        if not inv.args or inv.args[0] == "-l":
            await inv.out("Currently running services:\n")
            for name in sorted(self._dumps()):
                await inv.out(f"  {name}\n")
            return 0
        name, rest = inv.args[0], inv.args[1:]
        dump = self._dumps().get(name)
        if dump is None:
            await inv.err(f"Can't find service: {name}\n")
            return 0
        await inv.out(dump(rest))
        return 0

    def _dumps(self) -> dict[str, Callable[[list[str]], str]]:
        return {
            "iphonesubinfo": self.iphonesubinfo,
            "telephony.registry": self.telephony_registry,
            "wifi": self.wifi,
            "location": self.location,
            "package": self.package,
            "display": self.display,
            "window": self.window,
            "activity": self.activity,
            "power": self.power,
            "battery": self.battery,
            "input_method": self.input_method,
            "SurfaceFlinger": self.surface_flinger,
        }

    # -- telephony --------------------------------------------------------------------------
    def iphonesubinfo(self, args: list[str]) -> str:
        """Android 8.x still dumps the device id; later releases print only the header."""
        ident = self.state.identity
        out = ["Phone Subscriber Info:"]
        if self.state.sdk < 28:
            out += ["  Phone Type = GSM", f"  Device ID = {ident.imei}"]
        return "\n".join(out) + "\n"

    def telephony_registry(self, args: list[str]) -> str:
        ident, sdk = self.state.identity, self.state.sdk
        cell = ident.cell
        sim = ident.sim
        alpha = sim.carrier.name if sim else ""
        lte = (
            f"CellIdentityLte:{{ mCi={cell.cid} mPci={cell.pci} mTac={cell.tac} mEarfcn={cell.earfcn}"
            f" mBandwidth=2147483647 mMcc={cell.mcc} mMnc={cell.mnc} mAlphaLong={alpha} mAlphaShort={alpha}}}"
        )
        if sdk >= 29:
            lte = lte[:-1] + " mAdditionalPlmns={} mCsgInfo=null}"
        lines = ["last known state:"]
        for slot in range(len(ident.imeis)):
            slot_sim = next((s for s in ident.sims if s.slot == slot), None)
            lines += [
                f"  Phone Id={slot}",
                "  mCallState=0",
                "  mRingingCallState=0",
                "  mForegroundCallState=0",
                "  mCallIncomingNumber=",
            ]
            if slot_sim is None:
                lines += ["  mServiceState=1 1 voice searching data searching", "  mDataConnectionState=0"]
                continue
            numeric = slot_sim.carrier.numeric
            name = slot_sim.carrier.name
            lines += [
                f"  mServiceState={{mVoiceRegState=0(IN_SERVICE), mDataRegState=0(IN_SERVICE),"
                f" mOperatorAlphaLong={name}, mOperatorAlphaShort={name}, mOperatorNumeric={numeric},"
                " isManualNetworkSelection=false(automatic), getRilVoiceRadioTechnology=14(LTE),"
                " getRilDataRadioTechnology=14(LTE), mIsEmergencyOnly=false, mIsRoaming=false}",
                "  mSignalStrength=SignalStrength:{mCdma=Invalid,mGsm=Invalid,mWcdma=Invalid,mTdscdma=Invalid,"
                "mLte=CellSignalStrengthLte: rssi=-65 rsrp=-95 rsrq=-10 rssnr=12 cqi=2147483647 ta=2147483647"
                " level=3,mNr=Invalid,primary=CellSignalStrengthLte}",
                "  mMessageWaiting=false",
                "  mCallForwarding=false",
                "  mDataActivity=0",
                "  mDataConnectionState=2",
                "  mDataConnectionNetworkType=13",
                f"  mCellIdentity={lte}",
                f"  mCellInfo=[CellInfoLte:{{mRegistered=YES mTimeStamp={time.monotonic_ns()}ns"
                f" mCellConnectionStatus=1 {lte} CellSignalStrengthLte: rssi=-65 rsrp=-95 rsrq=-10"
                " rssnr=12 cqi=2147483647 ta=2147483647 level=3 CellConfigLte :{ isEndcAvailable = false }}]",
            ]
        return "\n".join(lines) + "\n"

    # -- radios and location ----------------------------------------------------------------
    def wifi(self, args: list[str]) -> str:
        st = self.state
        wifi = st.wifi
        mac = st.wifi_mac
        factory = st.identity.wifi_mac
        enabled = wifi.enabled and st.settings.get("global", "wifi_on") != "0"
        lines = [f"Wi-Fi is {'enabled' if enabled else 'disabled'}"]
        lines.append(f"Verbose logging is off\nStay-awake conditions: 0\nmFactoryMacAddress={factory}")
        if wifi.ssid and enabled:
            lines.append(
                f'mWifiInfo SSID: "{wifi.ssid}", BSSID: {wifi.bssid}, MAC: {mac}, Supplicant state: COMPLETED,'
                f" Wi-Fi standard: 4, RSSI: {wifi.rssi}, Link speed: 144Mbps, Tx Link speed: 144Mbps,"
                f" Rx Link speed: 144Mbps, Frequency: {wifi.frequency_mhz}MHz, Net ID: 0, Metered hint: false,"
                " score: 60"
            )
            lines.append(f'mLastNetworkId 0\nmLastBssid {wifi.bssid}\nmLastSsid "{wifi.ssid}"')
        else:
            lines.append(
                f"mWifiInfo SSID: <unknown ssid>, BSSID: <none>, MAC: {mac}, Supplicant state: DISCONNECTED,"
                " RSSI: -127, Link speed: -1Mbps, Frequency: -1MHz, Net ID: -1, Metered hint: false, score: 0"
            )
        return "\n".join(lines) + "\n"

    def location(self, args: list[str]) -> str:
        loc = self.state.identity.location
        enabled = (self.state.settings.get("secure", "location_mode") or "0") != "0"
        lines = ["Location Manager State:", f"  Location Setting: {'ON' if enabled else 'OFF'}"]
        lines.append(f"  location [u0] enabled: {str(enabled).lower()}")
        if enabled:
            et = int(self.state.uptime() * 1e3)
            lines += [
                "  Last Known Locations:",
                f"    fused: Location[fused {loc.latitude:.6f},{loc.longitude:.6f} hAcc={loc.accuracy_m:.0f}"
                f" et=+{et}ms alt=42.0 vAcc=8]",
                f"    gps: Location[gps {loc.latitude:.6f},{loc.longitude:.6f} hAcc={loc.accuracy_m:.0f}"
                f" et=+{et}ms alt=42.0 vAcc=8]",
            ]
        return "\n".join(lines) + "\n"

    # -- packages ---------------------------------------------------------------------------
    def package(self, args: list[str]) -> str:
        names = [a for a in args if not a.startswith("-")]
        packages = [p for p in self.state.packages.all() if not names or p.name in names]
        if names and not packages:
            return ""
        out = ["Packages:"]
        for p in packages:
            flags = "SYSTEM HAS_CODE ALLOW_CLEAR_USER_DATA" if p.system else "HAS_CODE ALLOW_CLEAR_USER_DATA"
            digest = _short_hash("signature:" + p.name)
            out += [
                f"  Package [{p.name}] ({_short_hash(p.name, 7)}):",
                f"    userId={p.uid or 1000}",
                f"    pkg=Package{{{digest} {p.name}}}",
                f"    codePath={p.path.rsplit('/', 1)[0]}",
                f"    resourcePath={p.path.rsplit('/', 1)[0]}",
                f"    versionCode={p.version_code} minSdk=26 targetSdk={self.state.sdk}",
                f"    versionName={p.version_name}",
                f"    pkgFlags=[ {flags} ]",
                f"    timeStamp={_stamp(p.last_update)}",
                f"    firstInstallTime={_stamp(p.first_install)}",
                f"    lastUpdateTime={_stamp(p.last_update)}",
                "    installerPackageName=null" if p.system else "    installerPackageName=com.android.shell",
                f"    signatures=PackageSignatures{{{digest} version:2, signatures:[{digest}], past signatures:[]}}",
                f"    User 0: ceDataInode=0 installed=true hidden=false suspended=false stopped="
                f"{str(p.name in self.state.stopped_packages).lower()} notLaunched=false enabled="
                f"{0 if p.enabled else 3} instant=false virtual=false",
            ]
        return "\n".join(out) + "\n"

    # -- display, windows, activities ---------------------------------------------------------
    def display(self, args: list[str]) -> str:
        w, h = self.state.screen.display_size()
        density = self.state.profile.display_density
        viewport = (
            f"DisplayViewport{{type=INTERNAL, valid=true, isActive=true, displayId=0, uniqueId='local:0',"
            f" physicalPort=0, orientation=0, logicalFrame=Rect(0, 0 - {w}, {h}),"
            f" physicalFrame=Rect(0, 0 - {w}, {h}), deviceWidth={w}, deviceHeight={h}}}"
        )
        return (
            "DISPLAY MANAGER (dumpsys display)\n"
            "  mOnlyCode=false\n  mSafeMode=false\n"
            f"  mViewports=[{viewport}]\n"
            f"  mDefaultViewport={viewport}\n"
            "Display Devices: size=1\n"
            f'  DisplayDeviceInfo{{"Built-in Screen": uniqueId="local:0", {w} x {h}, modeId 1,'
            f" density {density}, {density}.0 x {density}.0 dpi, touch INTERNAL, rotation 0, type INTERNAL,"
            " state ON, FLAG_DEFAULT_DISPLAY, FLAG_ROTATES_WITH_CONTENT, FLAG_SECURE}\n"
        )

    def window(self, args: list[str]) -> str:
        """Windows, the policy's screen and keyguard state (Android 9: ``mDreamingLockscreen``; 10+:
        the ``KeyguardController`` section's ``mKeyguardShowing``: both are written)."""
        display = self.state.display
        w, h = display.display_size()
        density = self.state.profile.display_density
        package, activity = display.focused_activity()
        awake, locked = display.awake, display.keyguard_showing
        sub = args[0] if args else ""
        if sub == "displays":
            return (
                "WINDOW MANAGER DISPLAY CONTENTS (dumpsys window displays)\n"
                f"  Display: mDisplayId=0\n    init={w}x{h} {density}dpi cur={w}x{h} app={w}x{h} rng={w}x{h}-{h}x{w}\n"
            )
        flag = {True: "true", False: "false"}
        screen_state = "SCREEN_STATE_ON" if awake else "SCREEN_STATE_OFF"
        policy = (
            "WINDOW MANAGER POLICY STATE (dumpsys window policy)\n"
            f"    mAwake={flag[awake]}\n"
            f"    mScreenOnEarly={flag[awake]} mScreenOnFully={flag[awake]}\n"
            f"    mKeyguardDrawComplete=true mWindowManagerDrawComplete=true\n"
            f"    mShowingLockscreen={flag[locked]} mShowingDream=false mDreamingLockscreen={flag[locked]}"
            " mDreamingSleepToken=null\n"
            f"    screenState={screen_state}\n"
            "    KeyguardServiceDelegate\n"
            f"      showing={flag[locked]}\n"
            f"      inputRestricted={flag[locked]}\n"
        )
        if sub == "policy":
            return policy
        focus = f"{package}/{activity}"
        current = (
            f"Window{{2f1b3c4 u0 {display.keyguard_window}}}" if locked else f"Window{{7d3c5e1 u0 {focus}}}"
        )
        windows = (
            "WINDOW MANAGER WINDOWS (dumpsys window windows)\n"
            f"  Window #0 Window{{7d3c5e1 u0 {focus}}}:\n"
            f"    mDisplayId=0 rootTaskId=12 mSession=Session{{a1b2c3 1602:u0a10040}} mClient=android.os.BinderProxy@4f2a1c\n"
            f"  mCurrentFocus={current}\n"
            f"  mFocusedApp=ActivityRecord{{5e8a7b2 u0 {focus} t12}}\n"
            f"  mInputMethodTarget=Window{{7d3c5e1 u0 {focus}}}\n"
            f"  mDisplayWidth={w} mDisplayHeight={h}\n"
        )
        if sub == "windows":
            return windows
        keyguard = (
            "  KeyguardController:\n"
            f"    mKeyguardShowing={flag[locked]}\n"
            "    mAodShowing=false\n"
            "    mKeyguardGoingAway=false\n"
            "    mOccluded=false\n"
        )
        return windows + "\n" + policy + "\n" + keyguard

    def activity(self, args: list[str]) -> str:
        if args[:1] == ["broadcasts"]:
            return self.state.broadcasts.dump()
        package, activity = self.state.screen.focused_activity()
        if args[:1] == ["top"]:
            return (
                "TASK 10012:com.android.task id=12 userId=0\n"
                f"  ACTIVITY {package}/{activity} 5e8a7b2 pid=2017\n"
                "    Local Activity 1c2d3e4 State:\n      mResumed=true mStopped=false mFinished=false\n"
            )
        return (
            "ACTIVITY MANAGER ACTIVITIES (dumpsys activity activities)\n"
            "Display #0 (activities from top to bottom):\n"
            "  * Task{9f8e7d6 #12 type=standard A=10040:com.android.task U=0 visible=true mode=fullscreen}\n"
            f"      * ActivityRecord{{5e8a7b2 u0 {package}/{activity} t12}}\n"
            f"  mResumedActivity: ActivityRecord{{5e8a7b2 u0 {package}/{activity} t12}}\n"
            f"  ResumedActivity: ActivityRecord{{5e8a7b2 u0 {package}/{activity} t12}}\n"
        )

    def power(self, args: list[str]) -> str:
        awake = self.state.display.awake
        return (
            "POWER MANAGER (dumpsys power)\n\nPower Manager State:\n"
            f"  mDirty=0x0\n  mWakefulness={'Awake' if awake else 'Asleep'}\n  mWakefulnessChanging=false\n"
            "  mIsPowered=true\n  mPlugType=2\n  mBatteryLevel=85\n"
            f"  mHoldingWakeLockSuspendBlocker=false\n  mHoldingDisplaySuspendBlocker={str(awake).lower()}\n"
            f"Display Power: state={'ON' if awake else 'OFF'}\n"
        )

    def battery(self, args: list[str]) -> str:
        return (
            "Current Battery Service state:\n"
            "  AC powered: false\n  USB powered: true\n  Wireless powered: false\n"
            "  Max charging current: 500000\n  Max charging voltage: 5000000\n  Charge counter: 2733000\n"
            "  status: 2\n  health: 2\n  present: true\n  level: 85\n  scale: 100\n"
            "  voltage: 4236\n  temperature: 285\n  technology: Li-ion\n"
        )

    def input_method(self, args: list[str]) -> str:
        ime = self.state.settings.get("secure", "default_input_method") or ""
        return f"Current Input Method Manager state:\n  mCurMethodId={ime}\n  mInputShown=false\n"

    def surface_flinger(self, args: list[str]) -> str:
        if "--display-id" in args:
            return 'Display 4619827259835644672 (HWC display 0): port=0 pnpId=QCM displayName="Built-in Screen"\n'
        return "SurfaceFlinger state:\n"
