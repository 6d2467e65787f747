"""The scenario engine: phases of steps that drive a handset through first boot, consent and activation.

    from phonehome.scenario import Context, Options, ScriptedOperator, build_scenario, run_scenario

    scenario = build_scenario(["first-boot"], Options(consent="decline-all"))
    ctx = Context(mark=bench.mark, operator=TerminalOperator(), evidence=folder / "evidence",
                  handset=Handset.connect("0123ABC"))
    result = run_scenario(scenario, ctx)   # markers on the bench timeline; never raises for a step
    result.covered, result.unreached, result.problems()

Scenarios are scripts (``scenarios/*.py``) built from `Scenario`, `Phase`
and the steps here; the Setup Wizard is walked by screen maps
(``scenarios/screenmaps/*.yaml``). Steps reach the handset through the
device layer only; physical acts go to an `Operator`.
"""

from phonehome.scenario.context import Context, Device, OptionError, Options
from phonehome.scenario.loader import (
    ScenarioError,
    build_scenario,
    find_scenario,
    load_scenario,
    scenario_names,
)
from phonehome.scenario.model import Phase, Scenario, Step, StepFailed, StepTimeout
from phonehome.scenario.network import JoinWifi
from phonehome.scenario.operator import (
    Operator,
    OperatorError,
    Performed,
    ScriptedOperator,
    TerminalOperator,
    parse_answer,
)
from phonehome.scenario.reset import Reset
from phonehome.scenario.runner import Failure, ScenarioResult, StepRecord, run_scenario
from phonehome.scenario.screenmap import ScreenMap, load_screen_map, screen_maps
from phonehome.scenario.setup_wizard import WalkSetupWizard
from phonehome.scenario.steps import (
    ChangeSim,
    FactoryReset,
    MobileAttach,
    PowerOn,
    ScreenOff,
    ScreenOn,
    Settle,
    Shell,
    Unlock,
    Wait,
    WaitBootCompleted,
    WaitNetwork,
)
from phonehome.scenario.wizard import (
    CONSENT_VARIANTS,
    ConsentChoice,
    UnknownScreen,
    WizardDriver,
    consent_choice,
)

__all__ = [
    "CONSENT_VARIANTS",
    "ChangeSim",
    "ConsentChoice",
    "Context",
    "Device",
    "FactoryReset",
    "Failure",
    "JoinWifi",
    "MobileAttach",
    "Operator",
    "OperatorError",
    "OptionError",
    "Options",
    "Performed",
    "Phase",
    "PowerOn",
    "Reset",
    "Scenario",
    "ScenarioError",
    "ScenarioResult",
    "ScreenMap",
    "ScreenOff",
    "ScreenOn",
    "ScriptedOperator",
    "Settle",
    "Shell",
    "Step",
    "StepFailed",
    "StepRecord",
    "StepTimeout",
    "TerminalOperator",
    "UnknownScreen",
    "Unlock",
    "Wait",
    "WaitBootCompleted",
    "WaitNetwork",
    "WalkSetupWizard",
    "WizardDriver",
    "build_scenario",
    "consent_choice",
    "find_scenario",
    "load_scenario",
    "load_screen_map",
    "parse_answer",
    "run_scenario",
    "scenario_names",
    "screen_maps",
]
