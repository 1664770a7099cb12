"""Local engines on diffusers/transformers; imported only by workers that run them."""
