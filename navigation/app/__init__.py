"""The navigation application: one session holds the live state, the views draw it.

- :mod:`navigation.app.session`: :class:`~navigation.app.session.NavigationSession`, the one
  source of truth (plan, poses, registration, tip calibration, camera frame, fluorescence,
  display options, recording, counters).
- :mod:`navigation.app.registration_workflow`: collect / register / exclude / refine / accept,
  logic without widgets; :mod:`navigation.app.registration_state` its immutable values and
  the one "valid or not" flag (``RegistrationResult.verified``) every predicted TRE reads.
- :mod:`navigation.app.warning_monitor`: each warning's state in the session recording.
- :mod:`navigation.app.frame_builder`: the rules that turn the live state into one frame's
  :class:`~rendering.view_state.ViewSnapshot`.
- :mod:`navigation.app.render_loop`: the render cadence, latency and stall measurement.
- :mod:`navigation.app.auto_register`: unattended registration for headless runs.
- :mod:`navigation.app.headless`: ``igcs navigate --headless`` (offscreen, PNGs, summary.json).
- :mod:`navigation.app.window`: the Qt window (PySide6 + VTK), imported only when used; its
  layouts (:mod:`navigation.app.window_layout`), registration actions and override dialog,
  snapshots (:mod:`navigation.app.window_snapshot`).
"""
