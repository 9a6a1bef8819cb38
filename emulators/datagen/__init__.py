"""Deterministic demo and test data for both sides of the sync: `generate(seed, clients, ...)` in generator.py."""

from emulators.datagen.generator import Dataset, generate

__all__ = ["Dataset", "generate"]
