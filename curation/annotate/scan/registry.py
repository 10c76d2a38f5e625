"""Every scan signal (:class:`~curation.annotate.scan.signal.ScanSignal`), declared in its own file; in the
order their columns come in the table (after the scan's own, before the model stages')."""
from __future__ import annotations

from curation.annotate.scan import borders, camera, clarity, overlay
from curation.annotate.scan.signal import ScanSignal

SIGNALS: tuple[ScanSignal, ...] = (camera.SIGNAL, clarity.SIGNAL, borders.SIGNAL, overlay.SIGNAL)
SIGNAL_BY_NAME = {signal.name: signal for signal in SIGNALS}
