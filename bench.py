"""Run bench from a clone without installing: `python bench.py ...` = `bench ...`."""
from bench.cli import main

if __name__ == "__main__":
    main()
