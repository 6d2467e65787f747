"""phonehome: proves what a handset's firmware sends over the network.

Sub-packages, each with one job (see DESIGN.md): ``traffic`` (captures to flows),
``policy`` (identities, manifests, findings, verdicts), ``bench`` (the isolated
router), ``device`` (handsets over ADB), ``virtual`` (the virtual handset),
``scenario`` (driving the handset), ``report`` (evidence for a lab).
"""

__version__ = "0.1.0"
