"""Locust entry point: only imports the user classes (see scenarios/ and config.py).

    locust -f loadtests/locustfile.py --host http://127.0.0.1:PORT --headless -u 20 -r 10 -t 30s

`yiyang loadtest` starts the system, seeds it, runs this bounded and headless, writes the CSV
and HTML reports under reports/, then checks correctness.
"""

from loadtests.scenarios.terminal import CareTerminal, MealPointTerminal

__all__ = ["CareTerminal", "MealPointTerminal"]
