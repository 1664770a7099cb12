"""Builds the `ddiffusion::image` digital asset: an object-level node with the ddiffusion
parameters (the same folder the shelf tool adds). Run it with Houdini's Python:

    hython clients/houdini/build_hda.py [path/to/ddiffusion_image.hda]

The default path, `otls/` beside this file, is scanned by Houdini once this folder is on
HOUDINI_PATH (the `ddiffusion.json` package puts it there), so the asset installs itself.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import ddiffusion_houdini

ASSET = "ddiffusion::image::1.0"
DEFAULT_PATH = Path(__file__).resolve().with_name("otls") / "ddiffusion_image.hda"


def build(hda_path: Path) -> Any:
    import hou

    hda_path.parent.mkdir(parents=True, exist_ok=True)
    subnet = hou.node("/obj").createNode("subnet", "ddiffusion_image")
    asset = subnet.createDigitalAsset(
        name=ASSET, hda_file_path=str(hda_path), description="ddiffusion Image", min_num_inputs=0, max_num_inputs=0
    )
    definition = asset.type().definition()
    group = definition.parmTemplateGroup()
    group.append(ddiffusion_houdini.folder_template())
    definition.setParmTemplateGroup(group)  # saved into the .hda file
    asset.destroy()
    return definition


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_PATH)
