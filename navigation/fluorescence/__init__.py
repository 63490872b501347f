"""Fluorescence on the model, application side: the surgical field the NIR camera sees (and its
truth on the phantom), mapping a recorded session offline, and the live mapping chain.

The per-frame core (camera model, visibility, projection, fusion, metrics) is in
:mod:`rendering`; this package ties it to plans, phantom truth and session recordings.
"""
