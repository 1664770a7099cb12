"""Loopback stand-ins for the services workers call: OpenAI, Replicate, ComfyUI, plain file hosts."""

from dataclasses import dataclass

from tests.fakes.comfyui_server import FakeComfyUI
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.replicate_server import FakeReplicate


@dataclass
class FakeServices:
    openai: FakeOpenAI
    comfy: FakeComfyUI
    replicate: FakeReplicate
