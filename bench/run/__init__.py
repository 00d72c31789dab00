"""Runs: the option table and a run's configuration, its folder and results, the
training loop and its compiled step, its ending, and the run-level work the commands
call (evaluate, encode, export, ...). Imports the model and data wings."""
