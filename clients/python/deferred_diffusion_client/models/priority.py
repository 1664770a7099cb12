from enum import Enum


class Priority(str, Enum):
    BATCH = "batch"
    INTERACTIVE = "interactive"
    NORMAL = "normal"

    def __str__(self) -> str:
        return str(self.value)
