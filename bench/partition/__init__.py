"""Partition benchmark: gridder against spopt, pymetis and KMeans (issue 3 part 10)."""
