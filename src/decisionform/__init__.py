"""decisionform: plan/apply for decisioning configuration."""
__version__ = "0.1.0"
