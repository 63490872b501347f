"""The engineer's HTML reports of the calibration commands (pivot, camera, hand-eye) and the
page and figure helpers every report shares (:mod:`registration.reports.page`)."""
