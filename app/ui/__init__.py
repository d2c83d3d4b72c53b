"""The usage page's static files (HTML, script, styles), served by `app/usage_api.py`; no build step."""
