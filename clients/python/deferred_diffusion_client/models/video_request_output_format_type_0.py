from enum import Enum


class VideoRequestOutputFormatType0(str, Enum):
    EXR_SEQUENCE = "exr_sequence"
    MP4 = "mp4"
    PNG_SEQUENCE = "png_sequence"

    def __str__(self) -> str:
        return str(self.value)
