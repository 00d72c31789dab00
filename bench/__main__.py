"""`python -m bench ...` = `bench ...`."""
from bench.cli import main

main()
