"""Studies of many runs: sweeps, and comparing runs side by side with their
statistics. Imports the run wing and below."""
