from enum import Enum


class ImageRequestOutputFormatType0(str, Enum):
    EXR = "exr"
    JPEG = "jpeg"
    PNG = "png"
    PNG16 = "png16"
    WEBP = "webp"

    def __str__(self) -> str:
        return str(self.value)
