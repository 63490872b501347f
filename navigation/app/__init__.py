"""The navigation application: one session holds the live state, the views draw it.

- :mod:`navigation.app.session`: :class:`~navigation.app.session.NavigationSession`, the one
  source of truth (plan, poses, registration, tip calibration, camera frame, fluorescence,
  display options, recording, counters); its parts: the message ingest
  (:mod:`navigation.app.message_ingest`, :mod:`~navigation.app.tip_calibration`,
  :mod:`~navigation.app.camera_feed`, :mod:`~navigation.app.pose_history`,
  :mod:`~navigation.app.skin_sweep`), the tracker link (:mod:`navigation.app.session_link`)
  and the registration actions (:mod:`navigation.app.session_registration`).
- :mod:`navigation.app.launch`: starting the app (session, recording, live fluorescence,
  tracker link, the headless run) for ``igcs navigate``.
- :mod:`navigation.app.registration_workflow`: collect / register / exclude / refine / accept,
  logic without widgets (surface refinement in :mod:`navigation.app.surface_refinement`);
  :mod:`navigation.app.registration_state` its immutable values and the one "valid or not"
  flag (``RegistrationResult.verified``) every predicted TRE reads.
- :mod:`navigation.app.warning_monitor`: each warning's state in the session recording.
- :mod:`navigation.app.frame_builder`: the rules that turn the live state into one frame's
  :class:`~rendering.view_state.ViewSnapshot`.
- :mod:`navigation.app.render_loop`: the render cadence, latency and stall measurement.
- :mod:`navigation.app.auto_register`: unattended registration for headless runs.
- :mod:`navigation.app.headless`: ``igcs navigate --headless`` (offscreen, PNGs, summary.json).
- :mod:`navigation.app.window`: the Qt window (PySide6 + VTK), imported only when used; its
  layouts (:mod:`navigation.app.window_layout`), keys (:mod:`navigation.app.window_keys`),
  registration actions and override dialog, snapshots (:mod:`navigation.app.window_snapshot`).
"""
