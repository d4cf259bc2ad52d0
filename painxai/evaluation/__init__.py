"""Evaluation: fold metrics, statistical tests and the run report (Table 2)."""
