"""H.264 reference bookkeeping from the bitstream: which pictures follow lost reference frames.

A packet lost from an H.264 stream leaves no flag on the frames FFmpeg produces. The decoder
notices it only because the slice headers' ``frame_num`` counter skips values (FFmpeg's
"Frame num gap"); it then invents the missing reference frames from the previous one and
decodes on. :class:`RefTracker` reads the same counter from the packets (slice headers and
parameter sets only, nothing is decoded), so the decode stage can mark the picture that the
decoder had to repair.

Intact files never skip ``frame_num``, whatever their timestamps do: drop frames in an AVI,
a screen recording that pauses and variable frame rates leave the counter continuous. The
rule is ITU-T H.264 7.4.3: a picture's ``frame_num`` equals ``PrevRefFrameNum`` or follows it
by one (modulo ``MaxFrameNum``) unless ``gaps_in_frame_num_value_allowed_flag`` is set; an
IDR picture or memory-management operation 5 resets it. Anything this reader cannot parse
makes it stop judging until the next reference picture it can read: it never guesses.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RefTracker"]

_SLICE_NON_IDR, _SLICE_IDR, _SPS, _PPS = 1, 5, 7, 8
_P, _B, _I, _SP, _SI = 0, 1, 2, 3, 4
_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}
_SLICE_HEADER_BYTES = 2048  # a slice header with weight tables for 32+32 references fits


class _Unreadable(Exception):
    """A header this reader cannot follow (short data, slice groups, an unknown id)."""


class _Bits:
    """Exp-Golomb reader over an RBSP (emulation-prevention bytes removed)."""

    def __init__(self, nal: bytes) -> None:
        self.data = nal[1:].replace(b"\x00\x00\x03", b"\x00\x00")  # skip the NAL header byte
        self.pos = 0

    def u(self, n: int) -> int:
        value = 0
        for _ in range(n):
            byte = self.pos >> 3
            if byte >= len(self.data):
                raise _Unreadable("header ends early")
            value = (value << 1) | ((self.data[byte] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise _Unreadable("bad exp-Golomb code")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


@dataclass(frozen=True)
class _Sps:
    log2_max_frame_num: int
    poc_type: int
    log2_max_poc_lsb: int
    delta_pic_order_always_zero: bool
    frame_mbs_only: bool
    gaps_allowed: bool
    separate_colour_plane: bool
    chroma_array_type: int


@dataclass(frozen=True)
class _Pps:
    sps_id: int
    bottom_field_pic_order: bool
    num_ref_idx_default: tuple[int, int]
    weighted_pred: bool
    weighted_bipred_idc: int
    redundant_pic_cnt_present: bool


@dataclass(frozen=True)
class _Slice:
    first_mb: int
    idr: bool
    reference: bool
    frame_num: int
    mmco5: bool


def _skip_scaling_list(bits: _Bits, size: int) -> None:
    last = next_scale = 8
    for _ in range(size):
        if next_scale != 0:
            next_scale = (last + bits.se() + 256) % 256
        last = next_scale if next_scale != 0 else last


def _parse_sps(nal: bytes) -> tuple[int, _Sps]:
    bits = _Bits(nal)
    profile = bits.u(8)
    bits.u(16)  # constraint flags, level
    sps_id = bits.ue()
    chroma_format, separate = 1, False
    if profile in _HIGH_PROFILES:
        chroma_format = bits.ue()
        if chroma_format == 3:
            separate = bool(bits.u(1))
        bits.ue(), bits.ue(), bits.u(1)  # bit depths, qpprime_y_zero_transform_bypass
        if bits.u(1):  # seq_scaling_matrix_present
            for i in range(12 if chroma_format == 3 else 8):
                if bits.u(1):
                    _skip_scaling_list(bits, 16 if i < 6 else 64)
    log2_max_frame_num = bits.ue() + 4
    poc_type = bits.ue()
    log2_max_poc_lsb, always_zero = 0, False
    if poc_type == 0:
        log2_max_poc_lsb = bits.ue() + 4
    elif poc_type == 1:
        always_zero = bool(bits.u(1))
        bits.se(), bits.se()
        for _ in range(bits.ue()):
            bits.se()
    bits.ue()  # max_num_ref_frames
    gaps = bool(bits.u(1))
    bits.ue(), bits.ue()  # picture size in macroblocks
    frame_mbs_only = bool(bits.u(1))
    sps = _Sps(
        log2_max_frame_num, poc_type, log2_max_poc_lsb, always_zero, frame_mbs_only, gaps, separate,
        0 if separate else chroma_format,
    )  # fmt: skip
    return sps_id, sps


def _parse_pps(nal: bytes) -> tuple[int, _Pps]:
    bits = _Bits(nal)
    pps_id, sps_id = bits.ue(), bits.ue()
    bits.u(1)  # entropy_coding_mode
    bottom_field_pic_order = bool(bits.u(1))
    if bits.ue() > 0:
        raise _Unreadable("slice groups (FMO) are not followed")
    defaults = (bits.ue() + 1, bits.ue() + 1)
    weighted_pred, weighted_bipred_idc = bool(bits.u(1)), bits.u(2)
    bits.se(), bits.se(), bits.se()  # pic_init_qp, pic_init_qs, chroma_qp_index_offset
    bits.u(1), bits.u(1)  # deblocking_filter_control_present, constrained_intra_pred
    redundant = bool(bits.u(1))
    return pps_id, _Pps(sps_id, bottom_field_pic_order, defaults, weighted_pred, weighted_bipred_idc, redundant)


def _skip_list_modification(bits: _Bits) -> None:
    if bits.u(1):
        while (idc := bits.ue()) != 3:
            if idc > 5:
                raise _Unreadable("bad ref_pic_list_modification")
            bits.ue()


def _skip_weight_table(bits: _Bits, sps: _Sps, counts: tuple[int, int], lists: int) -> None:
    bits.ue()  # luma_log2_weight_denom
    if sps.chroma_array_type != 0:
        bits.ue()
    for n in counts[:lists]:
        for _ in range(n):
            if bits.u(1):
                bits.se(), bits.se()
            if sps.chroma_array_type != 0 and bits.u(1):
                bits.se(), bits.se(), bits.se(), bits.se()


def _has_mmco5(bits: _Bits) -> bool:
    found = False
    if bits.u(1):  # adaptive_ref_pic_marking_mode
        while (op := bits.ue()) != 0:
            if op > 6:
                raise _Unreadable("bad memory_management_control_operation")
            if op in (1, 2, 3, 6):
                bits.ue()
            if op in (3, 4):
                bits.ue()
            found = found or op == 5
    return found


class RefTracker:
    """Feed every packet of one H.264 stream in decode order; :meth:`feed` says how many
    reference frames are missing before the packet's picture (0: none, or not judged)."""

    def __init__(self, extradata: bytes | None) -> None:
        self.sps: dict[int, _Sps] = {}
        self.pps: dict[int, _Pps] = {}
        self.length_size: int | None = None  # AVCC NAL length field; None: Annex B start codes
        self.prev_ref: int | None = None  # PrevRefFrameNum; None: unknown, do not judge
        self._sps_of_last: _Sps | None = None
        if extradata and extradata[0] == 1 and len(extradata) >= 7:
            self.length_size = (extradata[4] & 3) + 1
            self._read_avcc(extradata)
        elif extradata:
            for nal in _annexb_nals(extradata):
                self._parameter_set(nal)

    def _read_avcc(self, data: bytes) -> None:
        pos, count = 6, data[5] & 0x1F
        for table in (0, 1):
            if table == 1:
                if pos >= len(data):
                    return
                count, pos = data[pos], pos + 1
            for _ in range(count):
                size = int.from_bytes(data[pos : pos + 2], "big")
                self._parameter_set(bytes(data[pos + 2 : pos + 2 + size]))
                pos += 2 + size

    def _parameter_set(self, nal: bytes) -> None:
        if not nal:
            return
        try:
            if nal[0] & 0x1F == _SPS:
                sps_id, sps = _parse_sps(nal)
                self.sps[sps_id] = sps
            elif nal[0] & 0x1F == _PPS:
                pps_id, pps = _parse_pps(nal)
                self.pps[pps_id] = pps
        except _Unreadable:
            self.prev_ref = None

    def _nals(self, data: memoryview | bytes) -> list[bytes]:
        if self.length_size is None:
            return list(_annexb_nals(data))
        nals, pos, n = [], 0, self.length_size
        while pos + n <= len(data):
            size = int.from_bytes(data[pos : pos + n], "big")
            start = pos + n
            kind = data[start] & 0x1F if size else 0
            if kind in (_SPS, _PPS):
                nals.append(bytes(data[start : start + size]))
            elif kind in (_SLICE_NON_IDR, _SLICE_IDR):
                nals.append(bytes(data[start : start + min(size, _SLICE_HEADER_BYTES)]))
            pos = start + size
        return nals

    def feed(self, data: memoryview | bytes) -> int:
        missing = 0
        for nal in self._nals(data):
            kind = nal[0] & 0x1F
            if kind in (_SPS, _PPS):
                self._parameter_set(nal)
                continue
            if kind not in (_SLICE_NON_IDR, _SLICE_IDR):
                continue
            try:
                piece = self._slice(nal)
            except _Unreadable:
                self.prev_ref = None
                continue
            if piece.first_mb == 0:  # the first slice of a picture (or field)
                missing += self._judge(piece)
        return missing

    def _judge(self, piece: _Slice) -> int:
        missing, sps = 0, self._sps_of_last
        if not piece.idr and self.prev_ref is not None and sps is not None and not sps.gaps_allowed:
            max_frame_num = 1 << sps.log2_max_frame_num
            step = (piece.frame_num - self.prev_ref) % max_frame_num
            if 1 < step <= max_frame_num // 2:
                missing = step - 1  # the decoder infers these frames as references (H.264 8.2.5.2)
                self.prev_ref = (piece.frame_num - 1) % max_frame_num
        if piece.reference:
            self.prev_ref = 0 if piece.mmco5 else piece.frame_num
        return missing

    def _slice(self, nal: bytes) -> _Slice:
        idr, reference = nal[0] & 0x1F == _SLICE_IDR, bool(nal[0] >> 5 & 3)
        bits = _Bits(nal)
        first_mb, slice_type = bits.ue(), bits.ue() % 5
        pps = self.pps.get(bits.ue())
        sps = self.sps.get(pps.sps_id) if pps is not None else None
        if pps is None or sps is None:
            raise _Unreadable("a slice names a parameter set that was not seen")
        self._sps_of_last = sps
        if sps.separate_colour_plane:
            bits.u(2)
        frame_num = bits.u(sps.log2_max_frame_num)
        if first_mb != 0 or not reference:
            return _Slice(first_mb, idr, reference, frame_num, False)
        field = False if sps.frame_mbs_only else bool(bits.u(1))
        if field:
            bits.u(1)  # bottom_field_flag
        if idr:
            bits.ue()  # idr_pic_id
        if sps.poc_type == 0:
            bits.u(sps.log2_max_poc_lsb)
            if pps.bottom_field_pic_order and not field:
                bits.se()
        elif sps.poc_type == 1 and not sps.delta_pic_order_always_zero:
            bits.se()
            if pps.bottom_field_pic_order and not field:
                bits.se()
        if pps.redundant_pic_cnt_present:
            bits.ue()
        return _Slice(first_mb, idr, reference, frame_num, self._marking(bits, sps, pps, slice_type, idr))

    @staticmethod
    def _marking(bits: _Bits, sps: _Sps, pps: _Pps, slice_type: int, idr: bool) -> bool:
        """Read on to dec_ref_pic_marking: whether it holds memory-management operation 5."""
        if slice_type == _B:
            bits.u(1)  # direct_spatial_mv_pred
        counts = pps.num_ref_idx_default
        if slice_type in (_P, _SP, _B) and bits.u(1):  # num_ref_idx_active_override
            counts = (bits.ue() + 1, bits.ue() + 1 if slice_type == _B else counts[1])
        lists = 2 if slice_type == _B else 0 if slice_type in (_I, _SI) else 1
        for _ in range(lists):
            _skip_list_modification(bits)
        if (pps.weighted_pred and slice_type in (_P, _SP)) or (pps.weighted_bipred_idc == 1 and slice_type == _B):
            _skip_weight_table(bits, sps, counts, lists)
        if idr:
            return False  # no_output_of_prior_pics, long_term_reference: an IDR resets anyway
        return _has_mmco5(bits)


def _annexb_nals(data: memoryview | bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream (start codes ``00 00 01``), slices cut short."""
    raw = bytes(data)
    nals: list[bytes] = []
    start = raw.find(b"\x00\x00\x01")
    while start >= 0:
        begin = start + 3
        end = raw.find(b"\x00\x00\x01", begin)
        stop = len(raw) if end < 0 else end
        if begin < stop:
            kind = raw[begin] & 0x1F
            if kind in (_SLICE_NON_IDR, _SLICE_IDR):
                stop = min(stop, begin + _SLICE_HEADER_BYTES)
            nals.append(raw[begin:stop].rstrip(b"\x00") if kind in (_SPS, _PPS) else raw[begin:stop])
        start = end
    return nals
