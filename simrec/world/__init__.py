"""The simulated world: catalog, population, latent taste and social graph."""
