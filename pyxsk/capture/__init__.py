"""Capture files: :mod:`~pyxsk.capture.pcap` reads and writes classic pcap
(what ``pyxsk dump -w`` writes), :mod:`~pyxsk.capture.pcapng` pcapng
(Wireshark's default); ``pyxsk send -r`` reads both."""

from __future__ import annotations
