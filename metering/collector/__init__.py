"""The compute cell's collector: consumes samples, enriches them from the cell-local API,
stores raw samples and hourly rollups."""
