"""The API cell's accounting: gathers every compute cell's hourly rollups by cell routing
and stores them for the Compute API."""
