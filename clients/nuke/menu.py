"""Nuke runs this at start-up from every plugin path: adds Nodes > ddiffusion > Image."""

import ddiffusion_nuke
import nuke

nuke.menu("Nodes").addMenu("ddiffusion").addCommand("Image", ddiffusion_nuke.create_node)
