"""Reading, CRS handling and writing of inputs and outputs."""
