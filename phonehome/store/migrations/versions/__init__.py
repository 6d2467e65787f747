"""One module per schema revision, oldest first; each builds on the last (``down_revision``)."""
