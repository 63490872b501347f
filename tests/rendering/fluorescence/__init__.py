"""Tests of the fluorescence core (rendering.fluorescence)."""
