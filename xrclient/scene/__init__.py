"""Scene files and assets: schema (validated), loaders, and the GPU-ready scene geometry."""
