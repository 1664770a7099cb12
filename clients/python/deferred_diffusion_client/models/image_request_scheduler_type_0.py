from enum import Enum


class ImageRequestSchedulerType0(str, Enum):
    DDIM = "ddim"
    DPMPP_2M = "dpmpp_2m"
    DPMPP_2M_KARRAS = "dpmpp_2m_karras"
    EULER = "euler"
    EULER_A = "euler_a"
    UNIPC = "unipc"

    def __str__(self) -> str:
        return str(self.value)
