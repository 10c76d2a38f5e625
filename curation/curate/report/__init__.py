"""The HTML filtering report: plots (plots.py) and the page (page.py)."""
