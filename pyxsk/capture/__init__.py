"""Capture files: :mod:`~pyxsk.capture.pcap` reads and writes classic pcap
(what ``pyxsk dump -w`` writes and ``pyxsk send -r`` reads)."""

from __future__ import annotations
