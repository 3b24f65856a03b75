"""Shared building blocks of the models (no registrations)."""
