"""GitLab: merge requests over python-gitlab (the only package that imports it)."""
