"""Fluorescence on the model, application side: the surgical field the NIR camera sees,
mapping a recorded session offline, and the live mapping chain.

The per-frame core (camera model, visibility, projection, fusion, metrics) is in
:mod:`rendering.fluorescence`; this package ties it to plans and session recordings. It never
knows the truth: a map is scored only through the evaluation hook
(:mod:`navigation.fluorescence.evaluation`), whose implementations are the simulation's.
"""
