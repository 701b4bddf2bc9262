"""Test-only writer of genuine, uncompressed BIOPAC AcqKnowledge ``.acq`` files (Windows/PC format).

Source: BIOPAC Application Note 156, "AcqKnowledge File Format for PC with Windows", which gives
every header as a C structure of Windows types (``short`` 2 bytes, ``long`` 4, ``double`` 8, ``char[n]``
zero-padded text, ``RGB`` 4 bytes), packed without alignment, little-endian, each field tagged with the
file revision (``lVersion``) that introduced it. The revision numbers used here: 38 = AcqKnowledge 3.7.0,
39 = 3.7.3, 41 = 3.8.1, 43 = 3.8.2, 45 = 3.9.0 (the pre-4.0 layout; 4.x headers hold undocumented blocks).
The field order and sizes were cross-checked against what the installed ``bioread`` expects (its source
read, not copied; the tests assert its header sizes and offsets equal the ones written here).

Layout written, in file order:

1. Graph header (one): ``nItemHeaderLen``, ``lVersion`` (the revision), ``lExtItemHeaderLen`` (the
   length of this header = offset of the first channel header), ``nChannels``, ``nHorizAxisType``
   (0 = time), ``nCurChannel``, ``dSampleTime`` (milliseconds per sample at the base rate), display
   settings (time offset/scale, cursors, window, measurements, horizontal units ...), then the fields
   the later revisions add (3.0: toolbar/measurement flags; 3.0.3: 40 measurement slots; 3.5: calc
   operands; 3.7.0: grid settings; 3.7.3: horizontal precision; 3.8.1: ``bCompressed`` = 0 among the
   window flags; 3.8.2: video path and sync delay; 3.9.0: graph type and measurement expressions).
2. Per-channel header (``nChannels`` of them, each ``lChanHeaderLen`` bytes): ``nNum`` (hardware
   channel number), ``szCommentText[40]`` (the channel label), colour, display, ``dVoltOffset``,
   ``dVoltScale``, ``szUnitsText[20]``, ``lBufLength`` (samples stored for this channel),
   ``dAmplScale`` (units per count) and ``dAmplOffset`` (units) -- a 16-bit sample ``n`` means
   ``n * dAmplScale + dAmplOffset`` --, ``nChanOrder``, ``nDispSize``, (3.0) ``plotMode``, ``vMid``,
   (3.7.0) ``szDescription[128]`` and ``nVarSampleDivider`` (the channel keeps every n-th base
   sample), (3.7.3) ``vertPrecision``, (3.8.2) active-segment colour and style.
3. Foreign data: ``nLength`` (of the whole section, these 4 bytes included), ``nID``, payload.
4. Per-channel data-type header: ``nSize`` (bytes per sample: 2 or 8), ``nType`` (1 = double,
   2 = 16-bit integer).
5. Sample data, interleaved: at every base tick ``t`` each channel whose divider divides ``t`` stores
   its next sample, channels in header order.
6. Markers: ``lLength`` (of the section), ``lMarkers``, then per marker ``lSample``, (3.5) ``fSelected``,
   ``fTextLocked``, ``fPositionLocked``, ``nTextLength`` and the text with its terminating zero.
7. Journal (3.7.0 on): the tag bytes ``44 33 22 11``, ``hShow``, ``lJournalLen``, the text.

Not written: the per-marker display metadata later 3.8+ files may carry between markers and journal
(undocumented; readers find the journal tag in its place), compressed data, GLP, Mac (big-endian) files.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: revisions this writer produces -> the AcqKnowledge version (App Note 156's lVersion table)
REVISIONS = {38: "3.7.0", 39: "3.7.3", 41: "3.8.1", 43: "3.8.2", 45: "3.9.0"}

R20A, R30, R303, R35, R370, R373, R381, R382, R390 = 30, 34, 35, 36, 38, 39, 41, 43, 45
JOURNAL_TAG = bytes([0x44, 0x33, 0x22, 0x11])


@dataclass
class AcqChannel:
    """One channel to write: its physical ``values``, stored as int16 (``dtype="int16"``, quantised by
    ``scale``/``offset``) or as doubles (``dtype="float64"``), kept every ``divider``-th base tick."""

    label: str
    units: str
    values: np.ndarray
    divider: int = 1
    dtype: str = "int16"
    scale: float = 1.0
    offset: float = 0.0
    description: str = ""
    number: int = 0
    raw: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        v = np.asarray(self.values, dtype=np.float64)
        if self.dtype == "int16":
            counts = np.round((v - self.offset) / self.scale)
            if counts.min() < -32768 or counts.max() > 32767:
                raise ValueError(f"{self.label}: values do not fit 16 bits at scale {self.scale}")
            self.raw = counts.astype("<i2")
        elif self.dtype == "float64":
            self.raw = v.astype("<f8")
        else:
            raise ValueError(f"dtype must be 'int16' or 'float64', got {self.dtype!r}")

    @property
    def stored(self) -> np.ndarray:
        """The physical values a correct reader gets back (int16: after quantisation)."""
        if self.dtype == "int16":
            return self.raw.astype(np.float64) * self.scale + self.offset
        return self.raw.astype(np.float64)


def _text(s: str, n: int) -> bytes:
    b = s.encode("latin-1")  # pre-4.0 files are ANSI (Windows-1252 / Latin-1) text
    if len(b) >= n:
        raise ValueError(f"{s!r} longer than the {n - 1} characters its field holds")
    return b + b"\0" * (n - len(b))


def _pack(fields: list[tuple[int, str, object]], revision: int) -> bytes:
    """Little-endian, unaligned packing of the fields a revision has: ``(since_revision, fmt, value)``;
    ``fmt`` ``"Ns"`` takes bytes, ``"Nh"``/``"Nd"``... take a sequence, others one number."""
    out = bytearray()
    for since, fmt, value in fields:
        if since > revision:
            continue
        if fmt.endswith("s") or not fmt[0].isdigit():
            out += struct.pack("<" + fmt, value)
        else:
            out += struct.pack("<" + fmt, *value)
    return bytes(out)


def _graph_header(revision: int, n_channels: int, sample_ms: float) -> bytes:
    def fields(ext_len: int) -> list[tuple[int, str, object]]:
        return [
            (0, "h", 0),                 # nItemHeaderLen (not used)
            (0, "l", revision),          # lVersion
            (R20A, "l", ext_len),        # lExtItemHeaderLen
            (R20A, "h", n_channels),     # nChannels
            (R20A, "h", 0),              # nHorizAxisType: time
            (R20A, "h", 0),              # nCurChannel
            (R20A, "d", sample_ms),      # dSampleTime, ms per sample
            (R20A, "d", 0.0),            # dTimeOffset
            (R20A, "d", 1.0),            # dTimeScale (s/div)
            (R20A, "d", 0.0),            # dTimeCursor1
            (R20A, "d", 0.0),            # dTimeCursor2
            (R20A, "4h", (0, 0, 600, 800)),  # rcWindow
            (R20A, "6h", (0,) * 6),      # nMeasurement
            (R20A, "h", 0),              # fHilite
            (R20A, "d", 0.0),            # dFirstTimeOffset
            (R20A, "h", 0),              # nRescale
            (R20A, "40s", _text("seconds", 40)),  # szHorizUnits1
            (R20A, "10s", _text("sec", 10)),      # szHorizUnits2
            (R20A, "h", 1),              # nInMemory
            (R20A, "h", 1),              # fGrid
            (R20A, "h", 1),              # fMarkers
            (R20A, "h", 0),              # nPlotDraft
            (R20A, "h", 0),              # nDispMode
            (R20A, "h", 0),              # nReserved
            (R30, "7h", (1, 1, 1, 1, 0, 0, 2)),  # toolbar/buttons/measurements/markers/journal, CurXChannel, MmtPrecision
            (R303, "h", 1),              # NMeasurementRows
            (R303, "40h", (0,) * 40),    # mmt40
            (R303, "40h", (0,) * 40),    # mmtChan40
            (R35, "40h", (0,) * 40),     # MmtCalcOpnd1
            (R35, "40h", (0,) * 40),     # MmtCalcOpnd2
            (R35, "40h", (0,) * 40),     # MmtCalcOp
            (R35, "40d", (0.0,) * 40),   # MmtCalcConstant
            (R370, "l", 1),              # bNewGridWithMinor
            (R370, "4s", b"\x80\x80\x80\x00"),  # colorMajorGrid
            (R370, "4s", b"\xc0\xc0\xc0\x00"),  # colorMinorGrid
            (R370, "4H", (0, 2, 1, 1)),  # major/minor grid style, major/minor grid width
            (R370, "l", 0),              # bFixedUnitsDiv
            (R370, "l", 0),              # bMid_Range_Show
            (R370, "d", 0.0),            # dStart_Middle_Point
            (R370, "60d", (0.0,) * 60),  # dOffset_Point
            (R370, "d", 1.0),            # hGrid
            (R370, "60d", (1.0,) * 60),  # vGrid
            (R370, "l", 0),              # bEnableWaveTools
            (R373, "h", 3),              # horizPrecision
            (R381, "20s", b"\0" * 20),   # Reserved
            (R381, "5l", (0, 1, 1, 1, 1)),  # bOverlapMode, bShowHardware, bXAutoPlot, bXAutoScroll, bStartButtonVisible
            (R381, "l", 0),              # bCompressed: no
            (R381, "l", 0),              # bAlwaysStartButtonVisible
            (R382, "260s", b"\0" * 260),  # pathVideo
            (R382, "l", 0),              # optSyncDelay
            (R382, "d", 0.0),            # syncDelay
            (R382, "l", 0),              # bHRP_PasteMeasurements
            (R390, "l", 0),              # graphType
            (R390, "10240s", b"\0" * 10240),  # mmtCalcExpr
            (R390, "160l", (0,) * 160),  # mmtMomentOrder, mmtTimeDelay, mmtEmbedDim, mmtMIDelay (40 each)
        ]

    size = len(_pack(fields(0), revision))
    return _pack(fields(size), revision)


def _channel_header(revision: int, ch: AcqChannel, order: int) -> bytes:
    def fields(length: int) -> list[tuple[int, str, object]]:
        return [
            (R20A, "l", length),                       # lChanHeaderLen
            (R20A, "h", ch.number or order + 1),       # nNum
            (R20A, "40s", _text(ch.label, 40)),        # szCommentText
            (R20A, "4s", b"\0\0\xff\0"),               # rgbColor
            (R20A, "h", 1),                            # nDispChan
            (R20A, "d", 0.0),                          # dVoltOffset
            (R20A, "d", 1.0),                          # dVoltScale
            (R20A, "20s", _text(ch.units, 20)),        # szUnitsText
            (R20A, "l", int(ch.raw.size)),             # lBufLength
            (R20A, "d", float(ch.scale) if ch.dtype == "int16" else 1.0),   # dAmplScale
            (R20A, "d", float(ch.offset) if ch.dtype == "int16" else 0.0),  # dAmplOffset
            (R20A, "h", order),                        # nChanOrder
            (R20A, "h", 1),                            # nDispSize
            (R30, "h", 0),                             # plotMode
            (R30, "d", 0.0),                           # vMid
            (R370, "128s", _text(ch.description, 128)),  # szDescription
            (R370, "h", ch.divider),                   # nVarSampleDivider
            (R373, "h", 3),                            # vertPrecision
            (R382, "4s", b"\xff\0\0\0"),               # activeSegmentColor
            (R382, "l", 0),                            # activeSegmentStyle
        ]

    size = len(_pack(fields(0), revision))
    return _pack(fields(size), revision)


def _interleave(channels: list[AcqChannel], ticks: int) -> bytes:
    """Sample data: base tick ``t`` holds the next sample of each channel whose divider divides ``t``."""
    out = bytearray()
    pos = [0] * len(channels)
    for t in range(ticks):
        for i, ch in enumerate(channels):
            if t % ch.divider == 0:
                out += ch.raw[pos[i]].tobytes()
                pos[i] += 1
    return bytes(out)


def write_acq(path: "str | Path", channels: list[AcqChannel], *, base_rate: float, revision: int = 41,
              markers: "list[tuple[int, str]] | None" = None, journal: str = "",
              foreign: bytes = b"") -> dict[str, int]:
    """Write ``channels`` as an uncompressed PC AcqKnowledge file of ``revision`` (see :data:`REVISIONS`).

    ``base_rate`` (Hz) is the file's rate; a channel's rate is ``base_rate / divider`` and it must hold
    ``ceil(ticks / divider)`` samples for one common number of base ticks. ``markers`` are
    ``(base sample, text)``. Returns the byte offsets of the sections (``channel_headers``, ``foreign``,
    ``dtype_headers``, ``data``, ``markers``, ``journal``, ``end``).
    """
    if revision not in REVISIONS:
        raise ValueError(f"revision must be one of {sorted(REVISIONS)}, got {revision}")
    if any(ch.divider != 1 for ch in channels) and revision < R370:
        raise ValueError("per-channel sample dividers need revision 38 (3.7.0) or later")
    ticks = max((ch.raw.size - 1) * ch.divider + 1 for ch in channels)
    for ch in channels:
        if ch.raw.size != math.ceil(ticks / ch.divider):
            raise ValueError(f"{ch.label}: {ch.raw.size} samples; {math.ceil(ticks / ch.divider)} expected for "
                             f"{ticks} base ticks at divider {ch.divider}")
    buf = bytearray(_graph_header(revision, len(channels), 1000.0 / base_rate))
    offsets = {"channel_headers": len(buf)}
    for i, ch in enumerate(channels):
        buf += _channel_header(revision, ch, i)
    offsets["foreign"] = len(buf)
    buf += struct.pack("<hh", 4 + len(foreign), 0) + foreign
    offsets["dtype_headers"] = len(buf)
    for ch in channels:
        buf += struct.pack("<hh", 2, 2) if ch.dtype == "int16" else struct.pack("<hh", 8, 1)
    offsets["data"] = len(buf)
    buf += _interleave(channels, ticks)
    offsets["markers"] = len(buf)
    items = bytearray()
    for sample, text in markers or []:
        t = text.encode("latin-1")
        items += struct.pack("<l", sample)
        if revision >= R35:
            items += struct.pack("<h", 0)  # fSelected
        items += struct.pack("<hhh", 0, 0, len(t)) + t + b"\0"
    buf += struct.pack("<ll", 8 + len(items), len(markers or [])) + items
    offsets["journal"] = len(buf)
    if revision >= R370:
        text = journal.encode("latin-1")
        buf += JOURNAL_TAG + struct.pack("<hl", 1 if text else 0, len(text)) + text
    offsets["end"] = len(buf)
    Path(path).write_bytes(bytes(buf))
    return offsets
