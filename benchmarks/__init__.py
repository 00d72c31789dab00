"""Scripts that print bench's measured figures (each runs as `python benchmarks/NAME.py`),
and `sources`, the plain-Keras rebuilds of the models' sources that fidelity.py and
tests/test_sources.py compare bench's models with."""
