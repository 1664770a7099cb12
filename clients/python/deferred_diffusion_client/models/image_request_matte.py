from enum import Enum


class ImageRequestMatte(str, Enum):
    ALPHA = "alpha"
    MASK = "mask"

    def __str__(self) -> str:
        return str(self.value)
