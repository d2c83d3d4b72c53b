"""Local persistence that must never sit on a request's path: writes go through a background thread."""
