"""Tests of the simulation (navigation.simulation)."""
