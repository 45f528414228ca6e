"""End-to-end experiments: functions taking parameters and returning plain dicts of results."""
