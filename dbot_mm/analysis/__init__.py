"""Analyses of trained models (not imported by ``dbot_mm``: import what you need from here)."""
