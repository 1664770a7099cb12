"""deferred-diffusion from Python: `Client` on the generated `deferred_diffusion_client`, and the
`ddiffusion` command line (`ddiffusion.cli`)."""

from ddiffusion.client import DEFAULT_API_ADDRESS, ApiError, Client, ClientSettings

__all__ = ["DEFAULT_API_ADDRESS", "ApiError", "Client", "ClientSettings"]
