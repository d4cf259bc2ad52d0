"""Reading a video (a file, or an upload held in memory) with PyAV, and refusing a bad one in one sentence.

A video is refused with a :class:`VideoError` naming it and saying what to do when it is not a video,
is damaged or truncated, holds no frames, uses a codec this FFmpeg cannot decode, or is larger than
:data:`MAX_WIDTH` x :data:`MAX_HEIGHT` (a 4K stream cannot be followed in real time on two cores: scale
it down first). Frames are decoded one at a time and converted to RGB only when the caller asks
(:meth:`VideoFrame.rgb`), so skipped frames cost only their decoding.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from painxai.errors import PainxaiError

SUFFIXES: tuple[str, ...] = (".mp4", ".avi", ".webm", ".mov", ".mkv", ".y4m")
MAX_WIDTH, MAX_HEIGHT = 1920, 1080  # either orientation
# A video whose frames end this long before its header's duration is reported as truncated.
_TRUNCATION_SLACK_S = 1.0
_REENCODE = "re-encode it, e.g. `ffmpeg -i {name} -c:v libx264 -pix_fmt yuv420p out.mp4`"


class VideoError(PainxaiError):
    """The video cannot be followed; the message names it and says what to do."""


@dataclass(frozen=True)
class VideoInfo:
    """What the container says: ``name`` (file name or the upload's name), frame ``width`` x ``height`` in
    pixels, ``fps`` (frames per second, the stream's average; 0 when unknown), ``seconds`` (the header's
    duration, None when absent), ``codec``."""

    name: str
    width: int
    height: int
    fps: float
    seconds: float | None
    codec: str


class VideoFrame:
    """One decoded frame: ``index`` (0-based), ``time_s`` (seconds from the first frame); :meth:`rgb` converts it."""

    def __init__(self, frame: Any, index: int, time_s: float) -> None:
        self._frame = frame
        self.index = index
        self.time_s = time_s

    def rgb(self) -> np.ndarray:
        """The frame as an (H, W, 3) uint8 RGB array."""
        return self._frame.to_ndarray(format="rgb24")


class Video:
    """An open video; use as a context manager. ``info``: :class:`VideoInfo`; :meth:`frames` decodes in order."""

    def __init__(self, source: Path | str | bytes, name: str | None = None) -> None:
        import av

        self.name = name or (Path(source).name if not isinstance(source, bytes) else "the uploaded video")
        where = io.BytesIO(source) if isinstance(source, bytes) else str(source)
        if not isinstance(source, bytes) and not Path(source).is_file():
            raise VideoError(f"{self.name}: no such file; give the path of an mp4, avi, webm or mov video")
        try:
            self._container = av.open(where, "r")
        except av.error.InvalidDataError:
            if isinstance(source, bytes):
                head = source[:12]
            else:
                with Path(source).open("rb") as handle:
                    head = handle.read(12)
            if head[4:8] == b"ftyp":  # an MP4/MOV whose index (written last) is missing
                raise VideoError(f"{self.name}: the video is damaged or truncated (its index is missing); "
                                 "copy it again from its source") from None
            raise VideoError(f"{self.name}: not a video file FFmpeg can read; give an mp4, avi, webm or mov "
                             "video") from None
        except av.error.FFmpegError as error:
            raise VideoError(f"{self.name}: FFmpeg cannot open it ({error.strerror}); {_reencode(self.name)}") from None
        streams = self._container.streams.video
        if not streams:
            self._container.close()
            raise VideoError(f"{self.name}: holds no video frames (no video stream); record the video again")
        self._stream = streams[0]
        context = self._stream.codec_context
        if context is None or not context.name:
            self._container.close()
            raise VideoError(f"{self.name}: its video codec cannot be decoded here (this FFmpeg has no decoder for "
                             f"it); {_reencode(self.name)}")
        self._stream.thread_type = "AUTO"
        width, height = int(self._stream.width or 0), int(self._stream.height or 0)
        if max(width, height) > MAX_WIDTH or min(width, height) > MAX_HEIGHT:
            self._container.close()
            raise VideoError(
                f"{self.name}: {width} x {height} pixels is more than this monitor follows in real time "
                f"({MAX_WIDTH} x {MAX_HEIGHT}); scale it down first, e.g. "
                f"`ffmpeg -i {self.name} -vf scale=1280:-2 out.mp4`")
        rate = self._stream.average_rate or self._stream.guessed_rate
        seconds = None
        if self._stream.duration is not None and self._stream.time_base is not None:
            seconds = float(self._stream.duration * self._stream.time_base)
        elif self._container.duration is not None:
            seconds = self._container.duration / 1_000_000
        self.info = VideoInfo(self.name, width, height, float(rate or 0.0), seconds, context.name)
        self._where = source
        self._check_packets()

    def _check_packets(self) -> None:
        """Read the packets (without decoding: fast) so that a video with no frames or a truncated one is refused
        before anything is loaded or followed."""
        import av

        where = io.BytesIO(self._where) if isinstance(self._where, bytes) else str(self._where)
        count, last = 0, None
        with av.open(where, "r") as scan:
            stream = scan.streams.video[0]
            try:
                for packet in scan.demux(stream):
                    if packet.size:
                        count += 1
                        if packet.pts is not None and packet.time_base is not None:
                            end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                            last = end if last is None else max(last, end)
            except av.error.FFmpegError:
                pass  # a damaged stream: reported with its time when the frames are decoded
            first_pts, time_base = stream.start_time, stream.time_base
            start = float(first_pts * time_base) if first_pts is not None and time_base is not None else 0.0
        if count == 0:
            self.close()
            raise VideoError(f"{self.name}: holds no video frames; record the video again")
        announced = int(self._stream.frames or 0)  # the frame count in the header (AVI, MP4), 0 when absent
        seconds = self.info.seconds
        if announced and count < announced - 1:
            problem = f"it holds {count} of the {announced} frames its header announces"
        elif last is not None and seconds is not None and last - start + _TRUNCATION_SLACK_S < seconds:
            problem = f"its frames end at {last - start:.1f} s but its header says {seconds:.1f} s"
        else:
            return
        self.close()
        raise VideoError(f"{self.name}: the video is truncated: {problem}; copy it again from its source")

    def frames(self) -> Iterator[VideoFrame]:
        """Decode every frame in order. Raises VideoError when decoding fails, when the video holds no frame,
        or when its frames end more than a second before the duration its header gives (truncated)."""
        import av

        index, time_s = -1, 0.0
        first: float | None = None
        step = 1.0 / self.info.fps if self.info.fps else 0.0
        try:
            for frame in self._container.decode(self._stream):
                index += 1
                stamp = frame.time
                if stamp is None:
                    time_s = index * step
                else:
                    first = stamp if first is None else first
                    time_s = float(stamp - first)
                yield VideoFrame(frame, index, time_s)
        except av.error.FFmpegError as error:
            if index < 0:
                raise VideoError(f"{self.name}: its {self.info.codec} video cannot be decoded ({error.strerror}); "
                                 f"{_reencode(self.name)}") from None
            raise VideoError(f"{self.name}: the video is damaged after {time_s:.1f} s (frame {index + 1}: "
                             f"{error.strerror}); copy it again from its source") from None
        if index < 0:
            raise VideoError(f"{self.name}: holds no video frames; record the video again")
        if self.info.seconds is not None and time_s + step + _TRUNCATION_SLACK_S < self.info.seconds:
            raise VideoError(f"{self.name}: the video is truncated: its frames end at {time_s + step:.1f} s but its "
                             f"header says {self.info.seconds:.1f} s; copy it again from its source")

    def close(self) -> None:
        """Release the file."""
        self._container.close()

    def __enter__(self) -> Video:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _reencode(name: str) -> str:
    return _REENCODE.format(name=name)
