"""One router per resource: health, locate, buildings, grids, coverage, plans, jobs."""
