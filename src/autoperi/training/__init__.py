"""Training on PyTorch Lightning: typed configs, the Lightning module with EMA, export and loading."""
