"""Grading the course exercises with nbgrader: the one-command wrapper and its feedback scrubber."""
