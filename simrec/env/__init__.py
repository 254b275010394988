"""The simulation model (Mesa) and its phases, plus the run orchestration."""
