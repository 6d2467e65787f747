"""The compliance suite labs run, shipped with the package: ``pytest --pyargs phonehome.suite --device ...``."""
