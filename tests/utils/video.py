"""Reading MP4 outputs back in tests."""

import tempfile

import imageio_ffmpeg


def decode_mp4(mp4: bytes) -> tuple[int, tuple[int, int], float]:
    """Frame count, (width, height) and fps of an MP4, as ffmpeg decodes it."""
    with tempfile.NamedTemporaryFile(suffix=".mp4") as file:
        file.write(mp4)
        file.flush()
        reader = imageio_ffmpeg.read_frames(file.name)
        meta = next(reader)
        count = sum(1 for _ in reader)
    return count, meta["size"], meta["fps"]
