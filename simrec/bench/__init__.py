"""Interactive benchmarks: recommenders x scenarios x seeds as episodes, a leaderboard and a report (``simrec bench``)."""
