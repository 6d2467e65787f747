"""Labs of several hosts: handsets lent by a labgrid coordinator (docs/lab-rig.md, "labgrid").

`phonehome.lab.handset` turns an exporter's description of a handset into what ``phonehome run``
takes, checked against the lab's inventory and bench (no labgrid import, so it is tested alone);
`phonehome.lab.labgrid` is the labgrid resource and driver; `phonehome.lab.place` borrows a place
from the coordinator for one run and gives it back.
"""
