from enum import Enum


class Queue(str, Enum):
    COMFY = "comfy"
    CPU = "cpu"
    GPU = "gpu"

    def __str__(self) -> str:
        return str(self.value)
