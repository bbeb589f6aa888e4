"""Repository checks run by `make lint` (not shipped: no runtime imports this package)."""
